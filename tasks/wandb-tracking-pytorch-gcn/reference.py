"""Semi-supervised node classification with a graph convolutional network (GCN, Kipf & Welling),
tracked with Weights & Biases.

The graph is synthetic, drawn like a citation network: a stochastic block model in which nodes of the same
class link far more often than others, and sparse binary "bag of words" features whose word probabilities
depend on the class. The normalised adjacency D^-1/2 (A + I) D^-1/2 is a torch sparse tensor; each graph
convolution is a dense feature transform followed by a sparse matrix product. Only a handful of labels per
class are used for training (full-batch Adam with weight decay and early stopping on validation loss).
Set ADAPTBENCH_SMOKE=1 for a run of a few seconds.
"""

import argparse
import logging
import math
import os
import time

import numpy as np
import torch
import torch.nn.functional as F
import wandb
from torch import nn

log = logging.getLogger("gcn")
SMOKE = os.environ.get("ADAPTBENCH_SMOKE") == "1"


# ---------------------------------------------------------------- the synthetic citation graph


def make_graph(num_nodes, num_classes, num_features, p_in, p_out, seed):
    """Labels, binary features and an undirected edge list from a stochastic block model."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, num_classes, num_nodes)
    # every class prefers its own block of "words"
    word_probs = np.full((num_classes, num_features), 0.01)
    block = num_features // num_classes
    for c in range(num_classes):
        word_probs[c, c * block:(c + 1) * block] = 0.12
    features = (rng.random((num_nodes, num_features)) < word_probs[labels]).astype(np.float32)
    same = labels[:, None] == labels[None, :]
    probs = np.where(same, p_in, p_out)
    upper = np.triu(rng.random((num_nodes, num_nodes)) < probs, k=1)
    rows, cols = np.nonzero(upper)
    edges = np.concatenate([np.stack([rows, cols]), np.stack([cols, rows])], axis=1)
    return labels, features, edges


def normalize_features(features):
    """Row-normalise so every node's features sum to one."""
    rowsum = features.sum(1, keepdims=True)
    rowsum[rowsum == 0] = 1.0
    return features / rowsum


def normalized_adjacency(edges, num_nodes):
    """D^-1/2 (A + I) D^-1/2 as a coalesced sparse COO tensor."""
    self_loops = np.arange(num_nodes)
    rows = np.concatenate([edges[0], self_loops])
    cols = np.concatenate([edges[1], self_loops])
    degree = np.bincount(rows, minlength=num_nodes).astype(np.float32)
    d_inv_sqrt = 1.0 / np.sqrt(degree)
    values = d_inv_sqrt[rows] * d_inv_sqrt[cols]
    indices = torch.tensor(np.stack([rows, cols]), dtype=torch.long)
    return torch.sparse_coo_tensor(indices, torch.tensor(values, dtype=torch.float32),
                                   (num_nodes, num_nodes)).coalesce()


def split_nodes(labels, num_classes, per_class, num_val, num_test, seed):
    """`per_class` labelled nodes per class for training; disjoint validation and test sets."""
    rng = np.random.default_rng(seed + 1)
    order = rng.permutation(len(labels))
    train = []
    for c in range(num_classes):
        train += [i for i in order if labels[i] == c][:per_class]
    rest = [i for i in order if i not in set(train)]
    val, test = rest[:num_val], rest[num_val:num_val + num_test]
    return (torch.tensor(train, dtype=torch.long), torch.tensor(val, dtype=torch.long),
            torch.tensor(test, dtype=torch.long))


# ---------------------------------------------------------------- the model


class GraphConvolution(nn.Module):
    """H' = A_hat (H W) + b"""

    def __init__(self, in_features, out_features, bias=True):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = nn.Parameter(torch.empty(in_features, out_features))
        self.bias = nn.Parameter(torch.empty(out_features)) if bias else None
        self.reset_parameters()

    def reset_parameters(self):
        stdv = 1.0 / math.sqrt(self.weight.size(1))
        self.weight.data.uniform_(-stdv, stdv)
        if self.bias is not None:
            self.bias.data.uniform_(-stdv, stdv)

    def forward(self, x, adj):
        support = torch.mm(x, self.weight)
        output = torch.sparse.mm(adj, support)
        return output + self.bias if self.bias is not None else output

    def extra_repr(self):
        return f"{self.in_features} -> {self.out_features}"


class GCN(nn.Module):
    def __init__(self, nfeat, nhid, nclass, dropout):
        super().__init__()
        self.gc1 = GraphConvolution(nfeat, nhid)
        self.gc2 = GraphConvolution(nhid, nclass)
        self.dropout = dropout

    def forward(self, x, adj):
        x = F.dropout(x, self.dropout, training=self.training)
        x = F.relu(self.gc1(x, adj))
        x = F.dropout(x, self.dropout, training=self.training)
        return F.log_softmax(self.gc2(x, adj), dim=1)


def accuracy(output, labels):
    return (output.argmax(1) == labels).float().mean().item()


# ---------------------------------------------------------------- training


def train_step(model, optimizer, features, adj, labels, idx_train, idx_val):
    model.train()
    optimizer.zero_grad()
    output = model(features, adj)
    loss_train = F.nll_loss(output[idx_train], labels[idx_train])
    acc_train = accuracy(output[idx_train], labels[idx_train])
    loss_train.backward()
    optimizer.step()

    model.eval()
    with torch.no_grad():
        output = model(features, adj)
    loss_val = F.nll_loss(output[idx_val], labels[idx_val]).item()
    acc_val = accuracy(output[idx_val], labels[idx_val])
    return loss_train.item(), acc_train, loss_val, acc_val


def test(model, features, adj, labels, idx_test):
    model.eval()
    with torch.no_grad():
        output = model(features, adj)
    return F.nll_loss(output[idx_test], labels[idx_test]).item(), accuracy(output[idx_test], labels[idx_test])


def main():
    parser = argparse.ArgumentParser(description="GCN on a synthetic citation graph")
    parser.add_argument("--nodes", type=int, default=400 if SMOKE else 2708)
    parser.add_argument("--classes", type=int, default=7)
    parser.add_argument("--features", type=int, default=140 if SMOKE else 1433)
    parser.add_argument("--p-in", type=float, default=0.02 if SMOKE else 0.004)
    parser.add_argument("--p-out", type=float, default=0.002 if SMOKE else 0.0004)
    parser.add_argument("--per-class", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=30 if SMOKE else 200)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--weight-decay", type=float, default=5e-4)
    parser.add_argument("--hidden", type=int, default=16)
    parser.add_argument("--dropout", type=float, default=0.5)
    parser.add_argument("--patience", type=int, default=50)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--save-path", default="model.pt")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)

    labels_np, features_np, edges = make_graph(args.nodes, args.classes, args.features, args.p_in, args.p_out,
                                               args.seed)
    features = torch.tensor(normalize_features(features_np))
    labels = torch.tensor(labels_np, dtype=torch.long)
    adj = normalized_adjacency(edges, args.nodes)
    n_val = args.nodes // 6
    idx_train, idx_val, idx_test = split_nodes(labels_np, args.classes, args.per_class, n_val, 2 * n_val, args.seed)
    log.info("graph: %d nodes, %d edges, %d features; %d/%d/%d train/val/test nodes", args.nodes,
             edges.shape[1] // 2, args.features, len(idx_train), len(idx_val), len(idx_test))

    model = GCN(nfeat=args.features, nhid=args.hidden, nclass=args.classes, dropout=args.dropout)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)

    run = wandb.init(project="synthetic-gcn", config=vars(args))
    start, best_val, bad_epochs = time.time(), float("inf"), 0
    for epoch in range(args.epochs):
        loss_train, acc_train, loss_val, acc_val = train_step(model, optimizer, features, adj, labels, idx_train,
                                                              idx_val)
        run.log({"epoch": epoch + 1, "loss_train": loss_train, "acc_train": acc_train, "loss_val": loss_val,
                 "acc_val": acc_val})
        if epoch % 10 == 0 or epoch == args.epochs - 1:
            log.info("epoch %04d: loss_train %.4f acc_train %.4f loss_val %.4f acc_val %.4f", epoch + 1, loss_train,
                     acc_train, loss_val, acc_val)
        if loss_val < best_val:
            best_val, bad_epochs = loss_val, 0
        else:
            bad_epochs += 1
            if bad_epochs >= args.patience:
                log.info("early stopping at epoch %d", epoch + 1)
                break
    log.info("optimisation finished in %.2fs", time.time() - start)

    loss_test, acc_test = test(model, features, adj, labels, idx_test)
    log.info("test set results: loss %.4f accuracy %.4f", loss_test, acc_test)
    run.summary.update({"loss_test": loss_test, "acc_test": acc_test})
    torch.save(model.state_dict(), args.save_path)
    log.info("saved the model to %s", args.save_path)
    run.finish()


if __name__ == "__main__":
    main()
