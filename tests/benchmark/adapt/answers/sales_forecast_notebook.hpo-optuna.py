#!/usr/bin/env python

# # Weekly sales forecast
# Exported from `sales_forecast.ipynb`. A small dense network predicts next week's sales from the last
# eight weeks of a synthetic store's history.

# In[1]:


import keras
import numpy as np
import optuna
from keras import layers

# In[2]:


rng = np.random.default_rng(42)
weeks = np.arange(400)
sales = 100 + 0.2 * weeks + 15 * np.sin(weeks * 2 * np.pi / 52) + rng.normal(0, 4, len(weeks))
window = 8
X = np.stack([sales[i:i + window] for i in range(len(sales) - window)]).astype("float32")
y = sales[window:].astype("float32")
mean, std = X.mean(), X.std()
X, y = (X - mean) / std, (y - mean) / std
split = int(0.8 * len(X))
X_train, X_test, y_train, y_test = X[:split], X[split:], y[:split], y[split:]
X_train.shape, X_test.shape


# In[3]:


learning_rate = 0.01
epochs = 6
batch_size = 32

def build_model(learning_rate, units):
    net = keras.Sequential([
        keras.Input(shape=(window,)),
        layers.Dense(units, activation="relu"),
        layers.Dense(16, activation="relu"),
        layers.Dense(1),
    ])
    net.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="mse", metrics=["mae"])
    return net


cut = int(0.8 * len(X_train))
X_fit, X_val, y_fit, y_val = X_train[:cut], X_train[cut:], y_train[:cut], y_train[cut:]


def objective(trial):
    candidate = build_model(trial.suggest_float("learning_rate", 1e-3, 3e-2, log=True),
                            trial.suggest_int("units", 8, 64, log=True))
    candidate.fit(X_fit, y_fit, epochs=epochs, batch_size=batch_size, verbose=0)
    return candidate.evaluate(X_val, y_val, verbose=0)[0]


study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=42))
study.optimize(objective, n_trials=3)
print("best params:", study.best_params, "validation MSE:", round(study.best_value, 4))
learning_rate = study.best_params["learning_rate"]
model = build_model(learning_rate, study.best_params["units"])
model.summary()


# In[4]:


history = model.fit(X_train, y_train, validation_split=0.2, epochs=epochs, batch_size=batch_size, verbose=2)


# In[5]:


test_loss, test_mae = model.evaluate(X_test, y_test, verbose=0)
print(f"test MSE {test_loss:.4f}, test MAE {test_mae * std:.2f} units")


# In[6]:


model.save("sales_forecaster.keras")
