"""
===============================================
Answer retrieval with few questions per cluster
===============================================

Retrieval is what the smoothing basis was proposed for: a question embedding is
mapped into the answer embedding space, and the answers are ranked by cosine
similarity to the mapped question. This example builds a small synthetic
problem in which questions and answers share one embedding space, trains on 3
questions per cluster, and reports Recall@1 and Recall@5
(:func:`~sklearn_smoothbasis.metrics.recall_at_k`) of held-out questions for

* zero-shot retrieval, the question itself as the prediction
  (:class:`~sklearn_smoothbasis.SharedProjectionRegressor` with
  ``method="identity"``);
* the multi-head router (:class:`~sklearn_smoothbasis.MultiHeadRegressor`), a
  softmax-weighted mean of the training answers;
* :class:`~sklearn_smoothbasis.SmoothingBasisRegressor` with
  ``prior="identity"``: each cluster's map is the identity plus a combination
  of a shared basis, shrunk toward the identity.

Prediction is routed: ``predict(X_test)`` is called without ``groups``, as at
query time, when the cluster of a question is what we are looking for.
"""

# %%
# The data
# --------
# Each of 60 clusters has one answer, a random unit vector in 32 dimensions.
# A question of cluster ``i`` is its answer rotated by a cluster-specific
# rotation :math:`R_i`, plus Gaussian noise, normalised to unit length. The
# rotations share structure: :math:`R_i = \exp(\theta \sum_k c_{ik} S_k)` with
# three skew-symmetric generators :math:`S_k` shared by all clusters, so the
# maps that undo them are related across clusters. This structure suits the
# smoothing basis, but it is not exactly its model (the maps are not linear
# combinations of a few fixed matrices). The answers are nearly orthogonal to
# each other, unlike real sentence embeddings, which share common directions.
#
# The noise level ``sigma`` sets how far the questions of one cluster scatter.
# Instead of choosing one level we run four, fixed before looking at any
# result; the mean cosine between a question and its own answer is printed for
# each.
import warnings

import matplotlib.pyplot as plt
import numpy as np
from scipy.linalg import expm
from sklearn.exceptions import ConvergenceWarning

from sklearn_smoothbasis import (
    MultiHeadRegressor,
    SharedProjectionRegressor,
    SmoothingBasisRegressor,
)
from sklearn_smoothbasis.metrics import recall_at_k

n_clusters, dim, n_generators, theta = 60, 32, 3, 3.0
questions_per_cluster, n_train = 8, 3


def make_retrieval_problem(sigma, random_state=0):
    """Answers (one per cluster), questions, and the cluster of each question."""
    rng = np.random.RandomState(random_state)
    answers = rng.standard_normal((n_clusters, dim))
    answers /= np.linalg.norm(answers, axis=1, keepdims=True)
    S = rng.standard_normal((n_generators, dim, dim))
    S = S - S.transpose(0, 2, 1)
    S /= np.linalg.norm(S, axis=(1, 2), keepdims=True)
    c = rng.standard_normal((n_clusters, n_generators))
    rotations = np.stack(
        [expm(theta * np.tensordot(c[i], S, 1)) for i in range(n_clusters)]
    )
    groups = np.repeat(np.arange(n_clusters), questions_per_cluster)
    questions = np.einsum("rd,rde->re", answers[groups], rotations[groups])
    questions += sigma / np.sqrt(dim) * rng.standard_normal(questions.shape)
    questions /= np.linalg.norm(questions, axis=1, keepdims=True)
    return questions, answers, groups


# %%
# Training and evaluation
# -----------------------
# The first 3 questions of every cluster are training rows, with their
# cluster's answer as the target; the other 5 are held out. Every held-out
# question is scored by the rank of its own answer among all 60 answers
# (``candidates=answers``). All models keep their default routing: a softmax
# over the cosine similarity to the training-question centroid of each
# cluster (``centroids_``), at temperature 0.1 for the multi-head router and
# 0.03 for the smoothing basis, which also whitens that comparison by how the
# questions of one cluster spread (``routing_shrinkage``; see the user guide).
#
# To see where the differences come from, we also split the held-out
# questions by whether their most similar centroid (plain cosine) belongs to
# their own cluster ("routable") or not, and report Recall@1 on each part.
sigmas = [0.5, 1.0, 1.5, 2.0]
models = {
    "zero-shot": lambda: SharedProjectionRegressor(method="identity"),
    "multi-head": lambda: MultiHeadRegressor(),
    "smoothing basis": lambda: SmoothingBasisRegressor(
        prior="identity", random_state=0
    ),
}
recall = {name: {1: [], 5: []} for name in models}
routable_share = []
is_train = np.tile(np.arange(questions_per_cluster) < n_train, n_clusters)

for sigma in sigmas:
    Q, answers, groups = make_retrieval_problem(sigma)
    X_train, Y_train = Q[is_train], answers[groups[is_train]]
    X_test, Y_test = Q[~is_train], answers[groups[~is_train]]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        fitted = {
            name: make_model().fit(X_train, Y_train, groups=groups[is_train])
            for name, make_model in models.items()
        }
    converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    centroids = fitted["multi-head"].centroids_
    centroids = centroids / np.linalg.norm(centroids, axis=1, keepdims=True)
    routable = np.argmax(X_test @ centroids.T, axis=1) == groups[~is_train]
    routable_share.append(routable.mean())
    own_cosine = np.mean(np.sum(Q * answers[groups], axis=1))
    print(
        f"sigma={sigma}: mean cos(question, own answer) = {own_cosine:.3f}, "
        f"routable held-out questions = {routable.mean():.3f}, smoothing basis "
        f"fit: {fitted['smoothing basis'].n_iter_} iterations, converged: {converged}"
    )
    for name, model in fitted.items():
        Y_pred = model.predict(X_test)  # routed: no groups
        for k in (1, 5):
            recall[name][k].append(recall_at_k(Y_test, Y_pred, candidates=answers, k=k))
        line = (
            f"    {name:>15}: Recall@1 = {recall[name][1][-1]:.3f}, "
            f"Recall@5 = {recall[name][5][-1]:.3f}"
        )
        for part, rows in (("routable", routable), ("not routable", ~routable)):
            if rows.any():
                part_recall = recall_at_k(
                    Y_test[rows], Y_pred[rows], candidates=answers
                )
                line += f", Recall@1 {part} = {part_recall:.3f}"
        print(line)

# %%
# Results
# -------
fig, axes = plt.subplots(1, 2, figsize=(9, 4), sharey=True)
for ax, k in zip(axes, (1, 5)):
    for name in models:
        ax.plot(sigmas, recall[name][k], marker="o", label=name)
    ax.plot(sigmas, routable_share, color="0.6", ls=":", label="routable share")
    ax.set_xlabel("question noise sigma")
    ax.set_title(f"Recall@{k} of held-out questions")
axes[0].set_ylabel("recall")
axes[0].legend()
fig.tight_layout()
plt.show()

# %%
# What this shows, and what it does not
# -------------------------------------
# The smoothing basis does not win everywhere on this construction. With
# ``sigma=0.5`` every held-out question is routable, and both the multi-head
# router and the smoothing basis retrieve every answer. At ``sigma=1.0`` a few
# questions are not routable and the multi-head router has the best Recall@1
# and Recall@5: on a routable question it returns the training answer itself,
# while the smoothing basis applies its maps to the noisy question and carries
# part of that noise into its prediction, so it loses some routable questions.
#
# As the noise grows, fewer questions are routable, and at the two largest
# noise levels the smoothing basis has the best Recall@1 (at ``sigma=1.5`` the
# two are close at Recall@5). The split by routability shows why: on a
# question that is not routable the multi-head router returns other
# clusters' answers, and ranks the right one first less and less often as
# the noise grows, while the smoothing basis starts from the question itself
# (the identity prior) and ranks the right answer first about as often as
# zero-shot retrieval does.
#
# All three models keep their defaults. The output shows, for each noise
# level, whether the smoothing-basis fit converged within its default
# ``max_iter=100``; where it did not, scikit-learn would have issued a
# :class:`~sklearn.exceptions.ConvergenceWarning`, which this script records
# instead of printing.
#
# Synthetic data with shared rotations says little about real embeddings. On
# real sets the comparison depends on how well the clusters separate, on the
# temperature and on the shrinkage; tune those by cross-validation (see the
# user guide) before drawing conclusions.
