"""Deep Q-Network (DQN) with PyTorch Lightning on a small grid world.

An agent starts in a random cell of an N x N grid and must reach the goal in the opposite corner while
avoiding a few pits. Experience is collected with an epsilon-greedy policy into a replay buffer, and
a Q-network is trained on batches sampled from it against a periodically synced target network.
No gym is needed: the environment is written below. Set ADAPTBENCH_SMOKE=1 for a quick run.
"""

import argparse
import os
import random
from collections import deque, namedtuple

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, IterableDataset

SMOKE = os.environ.get("ADAPTBENCH_SMOKE") == "1"

Experience = namedtuple("Experience", ["state", "action", "reward", "done", "next_state"])


# ---------------------------------------------------------------- environment


class GridWorld:
    """Actions: 0 up, 1 right, 2 down, 3 left. Reward -0.05 a step, -1 in a pit, +1 at the goal."""

    MOVES = [(-1, 0), (0, 1), (1, 0), (0, -1)]

    def __init__(self, size: int = 5, max_steps: int = 30, seed: int = 0):
        self.size, self.max_steps = size, max_steps
        self.rng = np.random.default_rng(seed)
        self.goal = (size - 1, size - 1)
        self.pits = {(1, size - 2), (size - 2, 1)} if size > 3 else set()
        self.n_actions = len(self.MOVES)
        self.obs_size = 2 * size * size

    def observation(self):
        obs = np.zeros((2, self.size, self.size), dtype=np.float32)
        obs[0][self.pos] = 1.0
        obs[1][self.goal] = 1.0
        for pit in self.pits:
            obs[1][pit] = -1.0
        return obs.reshape(-1)

    def reset(self):
        free = [(r, c) for r in range(self.size) for c in range(self.size)
                if (r, c) != self.goal and (r, c) not in self.pits]
        self.pos = free[self.rng.integers(len(free))]
        self.steps = 0
        return self.observation()

    def step(self, action):
        dr, dc = self.MOVES[action]
        self.pos = (min(max(self.pos[0] + dr, 0), self.size - 1), min(max(self.pos[1] + dc, 0), self.size - 1))
        self.steps += 1
        if self.pos == self.goal:
            return self.observation(), 1.0, True
        if self.pos in self.pits:
            return self.observation(), -1.0, True
        return self.observation(), -0.05, self.steps >= self.max_steps


# ---------------------------------------------------------------- replay buffer and agent


class ReplayBuffer:
    def __init__(self, capacity: int):
        self.buffer = deque(maxlen=capacity)

    def __len__(self):
        return len(self.buffer)

    def append(self, experience: Experience):
        self.buffer.append(experience)

    def sample(self, batch_size: int):
        batch = random.sample(self.buffer, batch_size)
        states, actions, rewards, dones, next_states = zip(*batch)
        return (np.array(states), np.array(actions), np.array(rewards, dtype=np.float32),
                np.array(dones, dtype=bool), np.array(next_states))


class RLDataset(IterableDataset):
    """Yields experiences sampled from the buffer, refreshed each epoch."""

    def __init__(self, buffer: ReplayBuffer, sample_size: int = 200):
        self.buffer, self.sample_size = buffer, sample_size

    def __iter__(self):
        states, actions, rewards, dones, next_states = self.buffer.sample(self.sample_size)
        for i in range(len(dones)):
            yield states[i], actions[i], rewards[i], dones[i], next_states[i]


class Agent:
    def __init__(self, env: GridWorld, buffer: ReplayBuffer):
        self.env, self.buffer = env, buffer
        self.state = env.reset()

    def get_action(self, net: nn.Module, epsilon: float) -> int:
        if random.random() < epsilon:
            return random.randrange(self.env.n_actions)
        with torch.no_grad():
            q_values = net(torch.as_tensor(self.state).unsqueeze(0))
        return int(q_values.argmax(dim=1))

    def play_step(self, net: nn.Module, epsilon: float):
        action = self.get_action(net, epsilon)
        next_state, reward, done = self.env.step(action)
        self.buffer.append(Experience(self.state, action, reward, done, next_state))
        self.state = self.env.reset() if done else next_state
        return reward, done


class QNetwork(nn.Module):
    def __init__(self, obs_size: int, n_actions: int, hidden_size: int = 128):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(obs_size, hidden_size), nn.ReLU(),
                                 nn.Linear(hidden_size, hidden_size), nn.ReLU(),
                                 nn.Linear(hidden_size, n_actions))

    def forward(self, x):
        return self.net(x.float())


# ---------------------------------------------------------------- the LightningModule


class DQNLightning(L.LightningModule):
    def __init__(self, grid_size: int = 5, hidden_size: int = 128, learning_rate: float = 1e-3,
                 gamma: float = 0.95, batch_size: int = 32, sync_rate: int = 50, replay_size: int = 5000,
                 warm_start_steps: int = 500, eps_start: float = 1.0, eps_end: float = 0.05,
                 eps_last_step: int = 2000, episode_length: int = 200, seed: int = 0):
        super().__init__()
        self.save_hyperparameters()
        self.env = GridWorld(grid_size, seed=seed)
        self.net = QNetwork(self.env.obs_size, self.env.n_actions, hidden_size)
        self.target_net = QNetwork(self.env.obs_size, self.env.n_actions, hidden_size)
        self.target_net.load_state_dict(self.net.state_dict())
        self.buffer = ReplayBuffer(replay_size)
        self.agent = Agent(self.env, self.buffer)
        self.episode_reward, self.total_reward, self.episodes_done = 0.0, 0.0, 0
        self.populate(warm_start_steps)

    def populate(self, steps: int):
        for _ in range(steps):
            self.agent.play_step(self.net, epsilon=1.0)

    def forward(self, x):
        return self.net(x)

    def dqn_loss(self, batch):
        states, actions, rewards, dones, next_states = batch
        q = self.net(states).gather(1, actions.long().unsqueeze(-1)).squeeze(-1)
        with torch.no_grad():
            next_q = self.target_net(next_states).max(dim=1).values
            next_q[dones] = 0.0
            target = rewards + self.hparams.gamma * next_q
        return F.smooth_l1_loss(q, target)

    def epsilon(self):
        frac = min(1.0, self.global_step / self.hparams.eps_last_step)
        return self.hparams.eps_start + frac * (self.hparams.eps_end - self.hparams.eps_start)

    def training_step(self, batch, batch_idx):
        reward, done = self.agent.play_step(self.net, self.epsilon())
        self.episode_reward += reward
        if done:
            self.total_reward = self.episode_reward
            self.episode_reward = 0.0
            self.episodes_done += 1

        loss = self.dqn_loss(batch)
        if self.global_step % self.hparams.sync_rate == 0:
            self.target_net.load_state_dict(self.net.state_dict())

        self.log("train_loss", loss)
        self.log("epsilon", self.epsilon())
        self.log("episode_reward", self.total_reward)
        self.log("episodes", float(self.episodes_done))
        return loss

    def configure_optimizers(self):
        return torch.optim.Adam(self.net.parameters(), lr=self.hparams.learning_rate)

    def train_dataloader(self):
        dataset = RLDataset(self.buffer, self.hparams.episode_length)
        return DataLoader(dataset, batch_size=self.hparams.batch_size)


def evaluate(net: nn.Module, grid_size: int, episodes: int = 50, seed: int = 123):
    """Greedy policy: mean return and share of episodes that reach the goal."""
    env = GridWorld(grid_size, seed=seed)
    returns, successes = [], 0
    net.eval()
    for _ in range(episodes):
        state, done, total = env.reset(), False, 0.0
        while not done:
            with torch.no_grad():
                action = int(net(torch.as_tensor(state).unsqueeze(0)).argmax(dim=1))
            state, reward, done = env.step(action)
            total += reward
        returns.append(total)
        successes += env.pos == env.goal
    return float(np.mean(returns)), successes / episodes


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--grid-size", type=int, default=5)
    parser.add_argument("--hidden-size", type=int, default=128)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--gamma", type=float, default=0.95)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--sync-rate", type=int, default=50)
    parser.add_argument("--eps-last-step", type=int, default=300 if SMOKE else 2000)
    parser.add_argument("--warm-start-steps", type=int, default=200 if SMOKE else 500)
    parser.add_argument("--max-epochs", type=int, default=6 if SMOKE else 60)
    parser.add_argument("--seed", type=int, default=42)
    return parser.parse_args()


def main(args):
    L.seed_everything(args.seed)
    model = DQNLightning(grid_size=args.grid_size, hidden_size=args.hidden_size, learning_rate=args.learning_rate,
                         gamma=args.gamma, batch_size=args.batch_size, sync_rate=args.sync_rate,
                         warm_start_steps=args.warm_start_steps, eps_last_step=args.eps_last_step, seed=args.seed)
    trainer = L.Trainer(
        max_epochs=args.max_epochs,
        accelerator="cpu",
        log_every_n_steps=10,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(model)

    mean_return, success_rate = evaluate(model.net, args.grid_size)
    print(f"greedy policy: mean return {mean_return:.3f}, success rate {success_rate:.2f}")

    torch.save(model.net.state_dict(), "dqn.pt")
    return mean_return


if __name__ == "__main__":
    main(parse_args())
