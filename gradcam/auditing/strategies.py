"""Strategies of one class: spectral clustering of its explanation maps (SpRAy).

Spectral relevance analysis (Lapuschkin et al. 2019, "Unmasking Clever Hans predictors and
assessing what machines really learn", Nature Communications 10:1096), with the defaults of
CoRelAy (Anders et al. 2021, "Software for dataset-wide XAI"): each map made non-negative and
normalised to unit mass, a symmetric k-nearest-neighbour affinity (k = 10) over the flattened
maps, the eigenvalues of its normalised graph Laplacian, the number of clusters at the largest
gap between consecutive eigenvalues (at most ``max_clusters``), then spectral clustering on the
same affinity, and a 2-D t-SNE embedding for the picture. All linear algebra is scikit-learn's
and scipy's.

The affinity is exactly the one ``sklearn.cluster.SpectralClustering(affinity=
"precomputed_nearest_neighbors", n_neighbors=k)`` builds from the maps' distance matrix (the
k nearest neighbours of each map, itself included, as 0/1 connectivity, averaged with its
transpose), and the clustering is ``sklearn.cluster.spectral_clustering`` of it with the same
random state and eigen-solver (``eigen_solver``: ARPACK, the default, up to 1,000 maps, LOBPCG
above), so the labels are SpectralClustering's; only the numbering differs (here cluster 0 is
the largest).
"""

import warnings
from dataclasses import dataclass
from typing import Optional

import numpy as np
import scipy.linalg
import scipy.sparse
from scipy.sparse import csgraph
from scipy.sparse.linalg import eigsh
from sklearn.cluster import spectral_clustering
from sklearn.manifold import TSNE
from sklearn.neighbors import kneighbors_graph
from threadpoolctl import threadpool_limits

from gradcam.errors import UserError

DENSE_EIGEN_LIMIT = 600  # up to this many maps the Laplacian's eigenvalues come from scipy eigh
EMBEDDING_LIMIT = 500  # t-SNE of at most this many maps (a seeded sample of larger classes)
ARPACK_LIMIT = 1000  # spectral clustering's eigenvectors: ARPACK up to this many maps, then LOBPCG


@dataclass(frozen=True, kw_only=True)
class Strategies:
    """The clusters of one class's maps.

    Attributes:
        labels: int [N] the cluster of each map, 0 = the largest cluster.
        n_clusters: how many clusters.
        eigenvalues: the smallest ``max_clusters + 1`` eigenvalues of the normalised Laplacian,
            ascending (fewer when there are fewer maps).
        gap: the eigengap that chose ``n_clusters`` (eigenvalue n_clusters minus n_clusters - 1).
        embedding: float [N, 2] t-SNE coordinates, NaN for maps left out of the sample; or None.
        n_neighbors, max_clusters, seed: the settings used; eigen_solver: spectral
            clustering's (``eigen_solver(n)``).
    """

    labels: np.ndarray
    n_clusters: int
    eigenvalues: np.ndarray
    gap: float
    embedding: Optional[np.ndarray]
    n_neighbors: int
    max_clusters: int
    seed: int
    eigen_solver: str = "arpack"

    def members(self, cluster: int) -> np.ndarray:
        """Indices of the maps in ``cluster``."""
        return np.flatnonzero(self.labels == cluster)


def normalise_maps(maps) -> np.ndarray:
    """float64 [N, h*w]: each map's positive part divided by its sum (all-zero maps stay zero)."""
    flat = np.maximum(np.asarray(maps, np.float64).reshape(len(maps), -1), 0.0)
    total = flat.sum(axis=1, keepdims=True)
    return np.divide(flat, total, out=np.zeros_like(flat), where=total > 0)


def min_maps(n_neighbors: int) -> int:
    """The fewest maps a class needs: each needs its ``n_neighbors`` neighbours (itself among
    them) and there must be more maps than that."""
    return n_neighbors + 1


def neighbour_affinity(features, n_neighbors: int = 10):
    """Symmetric sparse k-nearest-neighbour connectivity (each point counted among its own
    neighbours), 0.5 * (A + A^T): SpectralClustering's precomputed_nearest_neighbors affinity."""
    connectivity = kneighbors_graph(
        features, n_neighbors=n_neighbors, mode="connectivity", include_self=True
    )
    return (0.5 * (connectivity + connectivity.T)).tocsr()


def laplacian_eigenvalues(affinity, count: int, seed: int = 0) -> np.ndarray:
    """The ``count`` smallest eigenvalues of the normalised Laplacian of ``affinity``, ascending
    (eigh for small graphs; eigsh on I - L, its largest, for large ones)."""
    laplacian = csgraph.laplacian(affinity, normed=True)
    n = laplacian.shape[0]
    count = min(count, n)
    if n <= DENSE_EIGEN_LIMIT:
        dense = laplacian.toarray()
        values = scipy.linalg.eigh(dense, eigvals_only=True, subset_by_index=[0, count - 1])
    else:
        shifted = scipy.sparse.identity(n, format="csr") - laplacian
        start = np.random.default_rng(seed).uniform(0.5, 1.5, n)
        top = eigsh(shifted, k=count, which="LA", v0=start, return_eigenvectors=False)
        values = 1.0 - top
    return np.clip(np.sort(values), 0.0, 2.0)


def eigengap(eigenvalues, max_clusters: int = 8) -> tuple:
    """(clusters, gap): the k in 1..max_clusters with the largest eigenvalue[k] - eigenvalue[k-1]
    (ascending eigenvalues, 0-based: k clusters leave k eigenvalues near zero)."""
    values = np.asarray(eigenvalues, np.float64)
    limit = min(max_clusters, len(values) - 1)
    if limit < 1:
        return 1, 0.0
    gaps = np.diff(values[: limit + 1])
    k = int(np.argmax(gaps)) + 1
    return k, float(gaps[k - 1])


def embed(features, seed: int = 0) -> np.ndarray:
    """t-SNE to 2-D of at most EMBEDDING_LIMIT maps (a seeded sample; the rest get NaN)
    (van der Maaten and Hinton 2008; scikit-learn's Barnes-Hut implementation)."""
    n = len(features)
    out = np.full((n, 2), np.nan)
    if n < 3:
        out[:] = 0.0
        return out
    chosen = np.arange(n)
    if n > EMBEDDING_LIMIT:
        chosen = np.sort(np.random.default_rng(seed).choice(n, EMBEDDING_LIMIT, replace=False))
    perplexity = float(min(30.0, (len(chosen) - 1) / 3.0))
    tsne = TSNE(2, perplexity=perplexity, init="pca", random_state=seed, max_iter=250)
    out[chosen] = tsne.fit_transform(features[chosen])
    return out


def find_strategies(
    maps,
    k: int = 10,
    max_clusters: int = 8,
    seed: int = 0,
    *,
    n_clusters: Optional[int] = None,
    embedding: bool = True,
) -> Strategies:
    # One thread for BLAS and OpenMP: the matrices are small, and t-SNE's and k-means' OpenMP
    # threads spin against TensorFlow's pools (measured 10-30x slower on 2 busy cores).
    with threadpool_limits(1):
        return _find_strategies(maps, k, max_clusters, seed, n_clusters, embedding)


def _find_strategies(maps, k, max_clusters, seed, n_clusters, embedding):
    """Cluster one class's maps [N, h, w] (or already flat [N, d]) into strategies.

    Args:
        maps: the class's explanation maps (raw; normalised here by ``normalise_maps``).
        k: neighbours of the affinity graph.
        max_clusters: the most clusters the eigengap may choose.
        seed: random state of the eigen-solver start, k-means and t-SNE.
        n_clusters: force this many clusters instead of the eigengap's choice.
        embedding: compute the 2-D t-SNE picture.

    Raises:
        UserError: fewer than ``min_maps(k)`` maps.
    """
    features = normalise_maps(maps)
    n = len(features)
    if n < min_maps(k):
        raise UserError(f"{n} maps: the clustering needs at least {min_maps(k)} (k={k} + 1)")
    affinity = neighbour_affinity(features, k)
    values = laplacian_eigenvalues(affinity, max_clusters + 1, seed)
    chosen, gap = eigengap(values, max_clusters)
    if n_clusters is not None:
        chosen = int(n_clusters)
        gap = float(values[chosen] - values[chosen - 1]) if chosen < len(values) else 0.0
    solver = eigen_solver(n)
    if chosen > 1:
        with warnings.catch_warnings():  # separate components are what clusters should be
            warnings.filterwarnings("ignore", "Graph is not fully connected")
            raw = spectral_clustering(
                affinity, n_clusters=chosen, random_state=seed, eigen_solver=solver
            )
    else:
        raw = np.zeros(n, np.int64)
    sizes = np.bincount(raw, minlength=chosen)
    order = np.argsort(-sizes, kind="stable")  # renumber: 0 = the largest cluster
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    labels = rank[raw]
    return Strategies(
        labels=labels.astype(np.int64),
        n_clusters=int(len(np.unique(labels))),
        eigenvalues=values,
        gap=gap,
        embedding=embed(features, seed) if embedding else None,
        n_neighbors=k,
        max_clusters=max_clusters,
        seed=seed,
        eigen_solver=solver,
    )


def eigen_solver(n: int) -> str:
    """Spectral clustering's eigen-solver for ``n`` maps: "arpack" (scikit-learn's default) up
    to ARPACK_LIMIT, "lobpcg" above (ARPACK's shift-invert took a minute at 5,000 maps)."""
    return "arpack" if n <= ARPACK_LIMIT else "lobpcg"
