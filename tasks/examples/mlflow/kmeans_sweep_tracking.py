"""Choosing the number of clusters of k-means on the iris data, tracked with MLflow nested runs.

A parent run 'k-sweep' holds the sweep's settings and the silhouette and inertia curves (one step per k); every
k gets a nested child run with its own parameters and scores. The best clustering's labels are saved to a CSV
file, which the parent run logs as an artifact. Set ADAPTBENCH_SMOKE=1 for a quick run on fewer values of k.
"""

import os

import mlflow
import numpy as np
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
    mlflow.set_experiment("iris-kmeans")
    with mlflow.start_run(run_name="k-sweep"):
        mlflow.log_params({"k_min": min(K_VALUES), "k_max": max(K_VALUES), "n_init": N_INIT, "seed": SEED})
        best = None
        for k in K_VALUES:
            with mlflow.start_run(run_name=f"k={k}", nested=True):
                model = KMeans(n_clusters=k, n_init=N_INIT, random_state=SEED).fit(X)
                silhouette = silhouette_score(X, model.labels_)
                mlflow.log_param("n_clusters", k)
                mlflow.log_metrics({"inertia": model.inertia_, "silhouette": silhouette})
            mlflow.log_metrics({"inertia": model.inertia_, "silhouette": silhouette}, step=k)
            if best is None or silhouette > best[1]:
                best = (k, silhouette, model.labels_)
        k, silhouette, labels = best
        mlflow.log_metrics({"best_k": k, "best_silhouette": silhouette})
        np.savetxt("cluster_labels.csv", labels, fmt="%d", header="cluster", comments="")
        mlflow.log_artifact("cluster_labels.csv")
        print(f"best k={k} (silhouette {silhouette:.3f})")


if __name__ == "__main__":
    main()
