"""Deep Q-learning on a small "Catch" game (Keras 3), tuned with Optuna.

A ball falls from the top of a small grid, one row per step; the agent moves a paddle along the bottom
row (left, stay, right) and scores +1 when it catches the ball, -1 when it misses. The agent learns with
a deep Q-network: epsilon-greedy exploration, an experience replay buffer and a target network that is
updated every few episodes, as in the Atari DQN. The game is written below, so no gym is needed.
Runs on any Keras backend (set KERAS_BACKEND, e.g. torch). Set ADAPTBENCH_SMOKE=1 for a quick run.
"""

import os
from collections import deque

import keras
import optuna
import numpy as np
from keras import layers

SMOKE = os.environ.get("ADAPTBENCH_SMOKE") == "1"

# Hyperparameters
GRID_ROWS, GRID_COLS = 6, 5
NUM_ACTIONS = 3
GAMMA = 0.9
LEARNING_RATE = 1e-3
HIDDEN_UNITS = 64
BATCH_SIZE = 32
UPDATES_PER_EPISODE = 2
EPISODES = 40 if SMOKE else 1500
EPSILON_START, EPSILON_MIN = 1.0, 0.05
EPSILON_DECAY_EPISODES = 30 if SMOKE else 800
REPLAY_SIZE = 5000
WARMUP_STEPS = 100
TARGET_UPDATE_EPISODES = 5
EVAL_EPISODES = 50
TRIAL_EPISODES = 25 if SMOKE else 600
N_TRIALS = 2 if SMOKE else 3
SEED = 0


class CatchEnv:
    """The observation is the flattened grid: 1 where the ball is, 1 on the paddle's cell in the last row."""

    def __init__(self, rows=GRID_ROWS, cols=GRID_COLS, seed=SEED):
        self.rows, self.cols = rows, cols
        self.rng = np.random.default_rng(seed)

    def reset(self):
        self.ball_row, self.ball_col = 0, int(self.rng.integers(self.cols))
        self.paddle = int(self.rng.integers(self.cols))
        return self.observation()

    def observation(self):
        grid = np.zeros((self.rows, self.cols), dtype="float32")
        grid[self.ball_row, self.ball_col] = 1.0
        grid[-1, self.paddle] = 1.0
        return grid.reshape(-1)

    def step(self, action):
        self.paddle = int(np.clip(self.paddle + action - 1, 0, self.cols - 1))
        self.ball_row += 1
        if self.ball_row == self.rows - 1:
            reward = 1.0 if self.paddle == self.ball_col else -1.0
            return self.observation(), reward, True
        return self.observation(), 0.0, False


def build_q_network(hidden_units=HIDDEN_UNITS):
    return keras.Sequential(
        [
            keras.Input(shape=(GRID_ROWS * GRID_COLS,)),
            layers.Dense(hidden_units, activation="relu"),
            layers.Dense(hidden_units, activation="relu"),
            layers.Dense(NUM_ACTIONS, activation="linear"),
        ]
    )


class ReplayBuffer:
    def __init__(self, capacity=REPLAY_SIZE, seed=SEED):
        self.memory = deque(maxlen=capacity)
        self.rng = np.random.default_rng(seed)

    def __len__(self):
        return len(self.memory)

    def add(self, state, action, reward, next_state, done):
        self.memory.append((state, action, reward, next_state, done))

    def sample(self, n):
        idx = self.rng.choice(len(self.memory), size=n, replace=False)
        states, actions, rewards, next_states, dones = zip(*(self.memory[i] for i in idx))
        return (np.array(states), np.array(actions), np.array(rewards, dtype="float32"),
                np.array(next_states), np.array(dones, dtype="float32"))


def train_on_replay(model, target_model, buffer, gamma=GAMMA):
    """One fit on a replay sample: Q(s, a) moves towards r + gamma * max_a' Q_target(s', a')."""
    states, actions, rewards, next_states, dones = buffer.sample(BATCH_SIZE * UPDATES_PER_EPISODE)
    future = target_model.predict(next_states, verbose=0).max(axis=1)
    targets = model.predict(states, verbose=0)
    targets[np.arange(len(actions)), actions] = rewards + gamma * future * (1.0 - dones)
    history = model.fit(states, targets, batch_size=BATCH_SIZE, epochs=1, verbose=0)
    return history.history["loss"][-1]


def greedy_action(model, state):
    q_values = keras.ops.convert_to_numpy(model(state[np.newaxis], training=False))
    return int(np.argmax(q_values[0]))


def evaluate(model, episodes=EVAL_EPISODES, seed=123):
    env = CatchEnv(seed=seed)
    total = 0.0
    for _ in range(episodes):
        state, done = env.reset(), False
        while not done:
            action = greedy_action(model, state)
            state, reward, done = env.step(action)
        total += reward
    return total / episodes


def train_agent(episodes, learning_rate=LEARNING_RATE, gamma=GAMMA, hidden_units=HIDDEN_UNITS, verbose=True):
    keras.utils.set_random_seed(SEED)
    rng = np.random.default_rng(SEED)
    env = CatchEnv()
    model = build_q_network(hidden_units)
    target_model = build_q_network(hidden_units)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate), loss=keras.losses.Huber())
    target_model.set_weights(model.get_weights())

    buffer = ReplayBuffer()
    epsilon, steps, recent_rewards = EPSILON_START, 0, deque(maxlen=50)
    for episode in range(1, episodes + 1):
        state, done, episode_reward = env.reset(), False, 0.0
        while not done:
            if rng.random() < epsilon:
                action = int(rng.integers(NUM_ACTIONS))
            else:
                action = greedy_action(model, state)
            next_state, reward, done = env.step(action)
            buffer.add(state, action, reward, next_state, done)
            state, episode_reward, steps = next_state, episode_reward + reward, steps + 1
        recent_rewards.append(episode_reward)

        loss = None
        if steps >= WARMUP_STEPS and len(buffer) >= BATCH_SIZE * UPDATES_PER_EPISODE:
            loss = train_on_replay(model, target_model, buffer, gamma)
        if episode % TARGET_UPDATE_EPISODES == 0:
            target_model.set_weights(model.get_weights())
        epsilon = max(EPSILON_MIN, EPSILON_START - (EPSILON_START - EPSILON_MIN) * episode / EPSILON_DECAY_EPISODES)

        if verbose and episode % 10 == 0:
            loss_text = f"{loss:.4f}" if loss is not None else "-"
            print(f"episode {episode}: mean reward (last 50) {np.mean(recent_rewards):.2f}, "
                  f"epsilon {epsilon:.2f}, loss {loss_text}")

    return model


def main():
    def objective(trial):
        model = train_agent(TRIAL_EPISODES,
                            learning_rate=trial.suggest_float("learning_rate", 1e-4, 1e-2, log=True),
                            gamma=trial.suggest_float("gamma", 0.8, 0.99),
                            hidden_units=trial.suggest_categorical("hidden_units", [32, 64, 128]),
                            verbose=False)
        return evaluate(model, episodes=20, seed=7)  # tuning episodes, not the final evaluation's

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=SEED))
    study.optimize(objective, n_trials=N_TRIALS)
    print(f"best params: {study.best_params}  mean reward: {study.best_value:.2f}")

    model = train_agent(EPISODES, **study.best_params)
    model.summary()
    mean_reward = evaluate(model)
    print(f"Greedy evaluation over {EVAL_EPISODES} episodes: mean reward {mean_reward:.2f}")

    model.save("dqn.keras")


if __name__ == "__main__":
    main()
