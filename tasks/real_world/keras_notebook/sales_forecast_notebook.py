#!/usr/bin/env python

# # Weekly sales forecast
# Exported from `sales_forecast.ipynb`. A small dense network predicts next week's sales from the last
# eight weeks of a synthetic store's history.

# In[1]:


import keras
import numpy as np
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

model = keras.Sequential([
    keras.Input(shape=(window,)),
    layers.Dense(32, activation="relu"),
    layers.Dense(16, activation="relu"),
    layers.Dense(1),
])
model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="mse", metrics=["mae"])
model.summary()


# In[4]:


history = model.fit(X_train, y_train, validation_split=0.2, epochs=epochs, batch_size=batch_size, verbose=2)


# In[5]:


test_loss, test_mae = model.evaluate(X_test, y_test, verbose=0)
print(f"test MSE {test_loss:.4f}, test MAE {test_mae * std:.2f} units")


# In[6]:


model.save("sales_forecaster.keras")
