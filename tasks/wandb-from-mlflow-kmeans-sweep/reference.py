"""Choosing the number of clusters of k-means on the iris data, tracked with Weights & Biases runs.

A run 'k-sweep' holds the sweep's settings and the silhouette and inertia curves (one step per k); every k gets its
own run in the group 'k-sweep' (W&B has no nested runs) with its config and scores in the summary. The best
clustering's labels are saved to a CSV file, which the sweep run logs as an artifact. Set ADAPTBENCH_SMOKE=1 for a
quick run on fewer values of k.
"""

import os

import numpy as np
import wandb
from sklearn.cluster import KMeans
from sklearn.datasets import load_iris
from sklearn.metrics import silhouette_score
from sklearn.preprocessing import StandardScaler

SMOKE = os.environ.get("ADAPTBENCH_SMOKE") == "1"
K_VALUES = range(2, 5) if SMOKE else range(2, 11)
N_INIT = 3 if SMOKE else 10
SEED = 0


def main():
    X = StandardScaler().fit_transform(load_iris().data)
    # WANDB_MODE / WANDB_DIR from the environment decide where the runs go; "create_new" keeps the sweep run
    # open while each k gets a run of its own
    with wandb.init(project="iris-kmeans", name="k-sweep", group="k-sweep", job_type="sweep", reinit="create_new",
                    config={"k_min": min(K_VALUES), "k_max": max(K_VALUES), "n_init": N_INIT, "seed": SEED}) as sweep:
        best = None
        for k in K_VALUES:
            with wandb.init(project="iris-kmeans", name=f"k={k}", group="k-sweep", job_type="fit",
                            reinit="create_new", config={"n_clusters": k, "n_init": N_INIT, "seed": SEED}) as child:
                model = KMeans(n_clusters=k, n_init=N_INIT, random_state=SEED).fit(X)
                silhouette = silhouette_score(X, model.labels_)
                child.summary.update({"inertia": model.inertia_, "silhouette": silhouette})
            sweep.log({"inertia": model.inertia_, "silhouette": silhouette}, step=k)
            if best is None or silhouette > best[1]:
                best = (k, silhouette, model.labels_)
        k, silhouette, labels = best
        sweep.summary.update({"best_k": k, "best_silhouette": silhouette})
        np.savetxt("cluster_labels.csv", labels, fmt="%d", header="cluster", comments="")
        artifact = wandb.Artifact("iris-kmeans-labels", type="predictions")
        artifact.add_file("cluster_labels.csv")
        sweep.log_artifact(artifact)
        print(f"best k={k} (silhouette {silhouette:.3f})")


if __name__ == "__main__":
    main()
