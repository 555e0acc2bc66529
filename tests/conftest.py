import numpy as np
import pytest

from sklearn_smoothbasis.datasets import make_multicluster_regression


@pytest.fixture(params=[0, 1, 2], ids=lambda s: f"seed{s}")
def seed(request):
    """A few fixed seeds, in the spirit of scikit-learn's ``global_random_seed``."""
    return request.param


@pytest.fixture(scope="session")
def planted():
    """The identifiable planted problem of the design notes, with held-out rows."""
    X, Y, groups, truth = make_multicluster_regression(
        n_clusters=100, n_basis=4, n_features=64, n_targets=64,
        rows_per_cluster=(5, 10), noise=0.1, random_state=0, return_truth=True,
    )
    rng = np.random.RandomState(1)
    groups_test = rng.randint(100, size=2000)
    X_test = rng.standard_normal((2000, 64))
    Y_test = np.einsum("rd,rdp->rp", X_test, truth.maps[groups_test])
    return X, Y, groups, truth, X_test, Y_test, groups_test
