"""Automatic speech recognition with a Transformer (Keras 3), tracked and registered with MLflow.

A sequence-to-sequence Transformer reads a spectrogram and writes its transcript one character at a
time, like the "Automatic Speech Recognition with Transformer" example on keras.io. Instead of
downloading LJSpeech, the audio is synthesised: every character has its own spectral signature
("formants" over the mel bins), spoken for a few frames with noise, loudness jitter and silences
between words, so the model has to learn to segment and recognise the sounds.

The encoder downsamples the spectrogram with strided 1-D convolutions and applies self-attention; the
decoder embeds the characters typed so far (with learned position embeddings), applies causal
self-attention and attends over the encoder output. Training uses teacher forcing; evaluation decodes
greedily and reports the character error rate (CER).

Runs on any Keras backend (set KERAS_BACKEND, e.g. torch). Set ADAPTBENCH_SMOKE=1 for a quick run on a
small data set and fewer epochs.
"""

import os

import keras
import mlflow
import numpy as np
from keras import layers, ops

SMOKE = os.environ.get("ADAPTBENCH_SMOKE") == "1"

# Data
N_MELS = 24
MAX_FRAMES = 96
MAX_TARGET_LEN = 24  # characters, including the start and end markers
N_TRAIN = 160 if SMOKE else 6000
N_TEST = 32 if SMOKE else 400
LEXICON = ["cab", "bad", "bag", "fig", "head", "bed", "cafe", "gab", "egg", "hide", "face", "deaf"]

# Model
EMBED_DIM = 64
NUM_HEADS = 2
FEED_FORWARD_DIM = 128
NUM_ENCODER_LAYERS = 2
NUM_DECODER_LAYERS = 1
DROPOUT = 0.1

# Training
BATCH_SIZE = 32
EPOCHS = 2 if SMOKE else 60
LEARNING_RATE = 1e-3
WARMUP_EPOCHS = 1 if SMOKE else 10
SEED = 0


# ---------------------------------------------------------------- text


class VectorizeChar:
    """Maps transcripts to padded integer sequences: '-' pads, '<' starts and '>' ends a transcript."""

    def __init__(self, max_len=MAX_TARGET_LEN):
        self.vocab = ["-", "#", "<", ">", " "] + list("abcdefghi")
        self.max_len = max_len
        self.char_to_idx = {ch: i for i, ch in enumerate(self.vocab)}

    def __call__(self, text):
        text = "<" + text[: self.max_len - 2] + ">"
        ids = [self.char_to_idx.get(ch, 1) for ch in text]
        return ids + [0] * (self.max_len - len(ids))

    def decode(self, ids):
        chars = []
        for i in ids:
            ch = self.vocab[int(i)]
            if ch == ">":
                break
            if ch not in "-<":
                chars.append(ch)
        return "".join(chars)

    def __len__(self):
        return len(self.vocab)


# ---------------------------------------------------------------- synthetic speech


class SyntheticSpeech:
    """Renders text as a log-mel-like spectrogram of shape (MAX_FRAMES, N_MELS)."""

    def __init__(self, vectorizer, seed=SEED):
        rng = np.random.default_rng(seed)
        bins = np.arange(N_MELS)
        self.signatures = {}
        for ch in vectorizer.vocab[5:]:
            centres = rng.choice(N_MELS, size=2, replace=False)
            widths = rng.uniform(1.0, 2.5, size=2)
            self.signatures[ch] = sum(np.exp(-((bins - c) ** 2) / (2 * w**2)) for c, w in zip(centres, widths))
        self.rng = np.random.default_rng(seed + 1)

    def sentence(self):
        n_words = self.rng.integers(1, 5)
        return " ".join(self.rng.choice(LEXICON) for _ in range(n_words))

    def render(self, text):
        frames = [np.zeros((self.rng.integers(1, 4), N_MELS))]  # leading silence
        for ch in text:
            if ch == " ":
                frames.append(np.zeros((self.rng.integers(2, 5), N_MELS)))
                continue
            duration = self.rng.integers(2, 5)
            loudness = self.rng.uniform(0.7, 1.3)
            frames.append(np.tile(loudness * self.signatures[ch], (duration, 1)))
        spec = np.concatenate(frames)[:MAX_FRAMES]
        spec = spec + 0.15 * self.rng.standard_normal(spec.shape)
        padded = np.zeros((MAX_FRAMES, N_MELS), dtype="float32")
        padded[: len(spec)] = spec
        return padded


def make_dataset(n, speech, vectorizer):
    texts = [speech.sentence() for _ in range(n)]
    spectrograms = np.stack([speech.render(t) for t in texts])
    # per-utterance normalisation, as done for real spectrograms
    mean = spectrograms.mean(axis=(1, 2), keepdims=True)
    std = spectrograms.std(axis=(1, 2), keepdims=True) + 1e-6
    spectrograms = ((spectrograms - mean) / std).astype("float32")
    targets = np.array([vectorizer(t) for t in texts], dtype="int32")
    return spectrograms, targets, texts


def teacher_forcing_inputs(spectrograms, targets):
    """The decoder reads the transcript shifted right and predicts the next character."""
    return {"source": spectrograms, "target": targets[:, :-1]}, targets[:, 1:]


# ---------------------------------------------------------------- model


def speech_feature_embedding(x, num_hid=EMBED_DIM):
    """Three strided 1-D convolutions: 4x fewer frames, local context, num_hid features."""
    x = layers.Conv1D(num_hid, 11, strides=2, padding="same", activation="relu", name="conv_1")(x)
    x = layers.Conv1D(num_hid, 11, strides=2, padding="same", activation="relu", name="conv_2")(x)
    return layers.Conv1D(num_hid, 11, padding="same", activation="relu", name="conv_3")(x)


def token_embedding(tokens, vocab_size, maxlen=MAX_TARGET_LEN, num_hid=EMBED_DIM):
    x = layers.Embedding(vocab_size, num_hid, name="token_embedding")(tokens)
    positions = ops.cumsum(ops.ones_like(tokens), axis=1) - 1
    pos = layers.Embedding(maxlen, num_hid, name="position_embedding")(positions)
    return layers.Add(name="token_plus_position")([x, pos])


def feed_forward(x, embed_dim, feed_forward_dim, dropout, name):
    y = layers.Dense(feed_forward_dim, activation="relu", name=f"{name}_ffn_1")(x)
    y = layers.Dense(embed_dim, name=f"{name}_ffn_2")(y)
    return layers.Dropout(dropout, name=f"{name}_ffn_dropout")(y)


def transformer_encoder(x, embed_dim, num_heads, feed_forward_dim, dropout, name):
    attn = layers.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim, name=f"{name}_attention")(x, x)
    attn = layers.Dropout(dropout, name=f"{name}_attention_dropout")(attn)
    x = layers.LayerNormalization(epsilon=1e-6, name=f"{name}_norm_1")(layers.Add()([x, attn]))
    ffn = feed_forward(x, embed_dim, feed_forward_dim, dropout, name)
    return layers.LayerNormalization(epsilon=1e-6, name=f"{name}_norm_2")(layers.Add()([x, ffn]))


def transformer_decoder(target, enc_out, embed_dim, num_heads, feed_forward_dim, dropout, name):
    self_attn = layers.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim, name=f"{name}_self_attention")(
        target, target, use_causal_mask=True)
    self_attn = layers.Dropout(dropout, name=f"{name}_self_attention_dropout")(self_attn)
    x = layers.LayerNormalization(epsilon=1e-6, name=f"{name}_norm_1")(layers.Add()([target, self_attn]))
    cross = layers.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim, name=f"{name}_cross_attention")(
        x, enc_out)
    cross = layers.Dropout(dropout, name=f"{name}_cross_attention_dropout")(cross)
    x = layers.LayerNormalization(epsilon=1e-6, name=f"{name}_norm_2")(layers.Add()([x, cross]))
    ffn = feed_forward(x, embed_dim, feed_forward_dim, dropout, name)
    return layers.LayerNormalization(epsilon=1e-6, name=f"{name}_norm_3")(layers.Add()([x, ffn]))


def build_transformer(vocab_size, embed_dim=EMBED_DIM, num_heads=NUM_HEADS, feed_forward_dim=FEED_FORWARD_DIM,
                      num_encoder_layers=NUM_ENCODER_LAYERS, num_decoder_layers=NUM_DECODER_LAYERS,
                      dropout=DROPOUT):
    source = keras.Input(shape=(MAX_FRAMES, N_MELS), name="source")
    target = keras.Input(shape=(None,), dtype="int32", name="target")

    x = speech_feature_embedding(source, embed_dim)
    for i in range(num_encoder_layers):
        x = transformer_encoder(x, embed_dim, num_heads, feed_forward_dim, dropout, name=f"encoder_{i}")

    y = token_embedding(target, vocab_size, num_hid=embed_dim)
    for i in range(num_decoder_layers):
        y = transformer_decoder(y, x, embed_dim, num_heads, feed_forward_dim, dropout, name=f"decoder_{i}")
    logits = layers.Dense(vocab_size, name="classifier")(y)
    return keras.Model({"source": source, "target": target}, logits, name="asr_transformer")


def padding_mask(labels):
    """Per-character sample weights: the padding after the end marker does not count."""
    return (labels != 0).astype("float32")


# ---------------------------------------------------------------- decoding and evaluation


def greedy_decode(model, spectrograms, start_id=2, end_id=3):
    """Feeds the decoder its own predictions, one character at a time, until '>' or the length limit."""
    batch = len(spectrograms)
    dec = np.full((batch, 1), start_id, dtype="int32")
    finished = np.zeros(batch, dtype=bool)
    for _ in range(MAX_TARGET_LEN - 1):
        logits = ops.convert_to_numpy(model({"source": spectrograms, "target": dec}, training=False))
        next_ids = np.argmax(logits[:, -1, :], axis=-1).astype("int32")
        next_ids[finished] = 0
        dec = np.concatenate([dec, next_ids[:, None]], axis=1)
        finished |= next_ids == end_id
        if finished.all():
            break
    return dec


def edit_distance(a, b):
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
    return row[-1]


def character_error_rate(references, hypotheses):
    errors = sum(edit_distance(r, h) for r, h in zip(references, hypotheses))
    return errors / max(1, sum(len(r) for r in references))


class DisplayOutputs(keras.callbacks.Callback):
    """Prints a few greedy transcriptions at the end of some epochs to follow the training."""

    def __init__(self, spectrograms, texts, vectorizer, every=5):
        super().__init__()
        self.spectrograms, self.texts, self.vectorizer, self.every = spectrograms, texts, vectorizer, every

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every and epoch + 1 != self.params.get("epochs"):
            return
        decoded = greedy_decode(self.model, self.spectrograms)
        for text, ids in zip(self.texts, decoded):
            print(f"  target: {text!r:28} prediction: {self.vectorizer.decode(ids)!r}")


def make_optimizer(steps_per_epoch, learning_rate=LEARNING_RATE):
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=learning_rate / 10,
        decay_steps=max(1, (EPOCHS - WARMUP_EPOCHS) * steps_per_epoch),
        warmup_target=learning_rate,
        warmup_steps=WARMUP_EPOCHS * steps_per_epoch,
        alpha=0.05,
    )
    return keras.optimizers.Adam(learning_rate=schedule)


def main():
    keras.utils.set_random_seed(SEED)
    vectorizer = VectorizeChar()
    speech = SyntheticSpeech(vectorizer)
    x_train, y_train, _ = make_dataset(N_TRAIN, speech, vectorizer)
    x_val, y_val, val_texts = make_dataset(max(32, N_TRAIN // 10), speech, vectorizer)
    x_test, y_test, test_texts = make_dataset(N_TEST, speech, vectorizer)
    print(f"spectrograms: {x_train.shape}, transcripts: {y_train.shape}, vocabulary: {len(vectorizer)}")

    model = build_transformer(len(vectorizer))
    model.summary()
    steps_per_epoch = int(np.ceil(N_TRAIN / BATCH_SIZE))
    model.compile(optimizer=make_optimizer(steps_per_epoch),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  weighted_metrics=["sparse_categorical_accuracy"])

    train_inputs, train_labels = teacher_forcing_inputs(x_train, y_train)
    val_inputs, val_labels = teacher_forcing_inputs(x_val, y_val)
    display = DisplayOutputs(x_val[:4], val_texts[:4], vectorizer)
    mlflow.set_experiment("asr-transformer")
    with mlflow.start_run():
        mlflow.log_params({"n_mels": N_MELS, "max_frames": MAX_FRAMES, "n_train": N_TRAIN, "embed_dim": EMBED_DIM,
                           "num_heads": NUM_HEADS, "feed_forward_dim": FEED_FORWARD_DIM,
                           "num_encoder_layers": NUM_ENCODER_LAYERS, "num_decoder_layers": NUM_DECODER_LAYERS,
                           "dropout": DROPOUT, "batch_size": BATCH_SIZE, "epochs": EPOCHS,
                           "learning_rate": LEARNING_RATE, "warmup_epochs": WARMUP_EPOCHS, "seed": SEED})
        # MlflowCallback logs loss, accuracy and their validation values once per epoch
        model.fit(train_inputs, train_labels, sample_weight=padding_mask(train_labels),
                  validation_data=(val_inputs, val_labels, padding_mask(val_labels)),
                  batch_size=BATCH_SIZE, epochs=EPOCHS, callbacks=[display, mlflow.keras.MlflowCallback()], verbose=2)

        test_inputs, test_labels = teacher_forcing_inputs(x_test, y_test)
        test_loss, test_accuracy = model.evaluate(test_inputs, test_labels, sample_weight=padding_mask(test_labels),
                                                  verbose=0)
        hypotheses = [vectorizer.decode(ids) for ids in greedy_decode(model, x_test)]
        cer = character_error_rate(test_texts, hypotheses)
        print(f"Test loss: {test_loss:.4f}  teacher-forced accuracy: {test_accuracy:.4f}  CER: {cer:.4f}")
        mlflow.log_metrics({"test_loss": test_loss, "test_accuracy": test_accuracy, "test_cer": cer})

        model.save("asr_transformer.keras")
        # the model has two named inputs: the signature records both (name, dtype, shape);
        # mlflow.keras.log_model(input_example=...) fails in MLflow 3.17, so no input example
        example = {"source": x_test[:2], "target": y_test[:2, :-1]}
        signature = mlflow.models.infer_signature(example, model.predict(example, verbose=0))
        mlflow.keras.log_model(
            model,
            name="model",
            signature=signature,
            pip_requirements=[f"keras=={keras.__version__}", "torch"],
            registered_model_name="synthetic-asr",
        )


if __name__ == "__main__":
    main()
