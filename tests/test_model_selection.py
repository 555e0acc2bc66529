import numpy as np
import pytest
import sklearn
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV, cross_val_score

from sklearn_smoothbasis.model_selection import ClusterStratifiedKFold

# Cluster sizes 7, 2, 1, 3, 2, 5 (the 2-row clusters are smaller than n_splits=3),
# rows of a cluster deliberately not contiguous.
SIZES = [7, 2, 1, 3, 2, 5]
GROUPS = np.random.default_rng(0).permutation(np.repeat(np.arange(6) * 10, SIZES))
X = np.arange(len(GROUPS), dtype=float).reshape(-1, 1)
Y = np.c_[X, -X]  # 2-D target, rejected by StratifiedKFold

SPLITTERS = [
    ClusterStratifiedKFold(3),
    ClusterStratifiedKFold(3, shuffle=True, random_state=0),
    ClusterStratifiedKFold(2, shuffle=True, random_state=1),
    ClusterStratifiedKFold(5),
]


@pytest.mark.parametrize("cv", SPLITTERS, ids=repr)
def test_every_test_cluster_has_training_rows(cv):
    for train, test in cv.split(X, Y, GROUPS):
        assert set(GROUPS[test]) <= set(GROUPS[train])


@pytest.mark.parametrize("cv", SPLITTERS, ids=repr)
def test_folds_partition_the_rows(cv):
    splits = list(cv.split(X, Y, GROUPS))
    assert len(splits) == cv.get_n_splits() == cv.n_splits
    for train, test in splits:
        assert len(test) > 0
        np.testing.assert_array_equal(np.sort(np.r_[train, test]), np.arange(len(X)))
    # Every row is tested exactly once, except the single row of the size-1 cluster.
    tested = np.sort(np.concatenate([test for _, test in splits]))
    np.testing.assert_array_equal(tested, np.flatnonzero(GROUPS != 20))


@pytest.mark.parametrize("cv", SPLITTERS, ids=repr)
def test_stratified_on_clusters(cv):
    tests = [test for _, test in cv.split(X, Y, GROUPS)]
    sizes = [len(test) for test in tests]
    assert max(sizes) - min(sizes) <= 1
    for g in np.unique(GROUPS):
        per_fold = [np.count_nonzero(GROUPS[test] == g) for test in tests]
        assert max(per_fold) - min(per_fold) <= 1


def test_small_cluster_rule():
    groups = np.array([0, 0, 1, 1, 1, 1])
    folds = list(ClusterStratifiedKFold(3).split(X[:6], groups=groups))
    # The 2-row cluster is tested in two folds, one row at a time.
    assert [np.count_nonzero(groups[test] == 0) for _, test in folds] == [1, 1, 0]


def test_shuffle_determinism():
    def splits(seed):
        cv = ClusterStratifiedKFold(3, shuffle=True, random_state=seed)
        return [test.tolist() for _, test in cv.split(X, Y, GROUPS)]

    assert splits(0) == splits(0)
    assert splits(0) != splits(1)
    rng = np.random.RandomState(0)
    cv = ClusterStratifiedKFold(3, shuffle=True, random_state=rng)
    assert [t.tolist() for _, t in cv.split(X, Y, GROUPS)] == splits(
        np.random.RandomState(0)
    )


def test_shuffle_permutes_rows_within_each_cluster():
    # One cluster of 9 rows: only the order of its rows can change the folds, so a
    # splitter that shuffled clusters but not rows would give one split for every
    # seed. 1,680 ways to deal 9 rows into 3 folds of 3: 20 seeds give 20 splits.
    groups = np.zeros(9, dtype=int)
    X_one = np.zeros((9, 1))

    def test_folds(seed):
        cv = ClusterStratifiedKFold(3, shuffle=True, random_state=seed)
        return tuple(tuple(sorted(test)) for _, test in cv.split(X_one, groups=groups))

    assert len({test_folds(seed) for seed in range(20)}) >= 18
    # Several clusters: each cluster's own rows are dealt differently across seeds.
    for cluster in np.unique(GROUPS):
        rows = np.flatnonzero(GROUPS == cluster)
        if len(rows) < 3:
            continue
        dealt = set()
        for seed in range(20):
            cv = ClusterStratifiedKFold(3, shuffle=True, random_state=seed)
            folds = np.empty(len(GROUPS), dtype=int)
            for k, (_, test) in enumerate(cv.split(X, Y, GROUPS)):
                folds[test] = k
            # The partition of the cluster's rows, whatever the folds are called.
            dealt.add(tuple(np.unique(folds[rows], return_inverse=True)[1].ravel()))
        assert len(dealt) > 1, cluster


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_splits": 1}, "n_splits must be an integer >= 2"),
        ({"n_splits": 2.0}, "n_splits must be an integer >= 2"),
        ({"random_state": 0}, "shuffle is False"),
    ],
)
def test_invalid_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ClusterStratifiedKFold(**kwargs)


def test_split_errors():
    cv = ClusterStratifiedKFold(3)
    with pytest.raises(ValueError, match="pass groups"):
        next(cv.split(X, Y))
    with pytest.raises(ValueError, match="inconsistent numbers"):
        next(cv.split(X, Y, GROUPS[:-1]))
    with pytest.raises(ValueError, match="groups must be 1-D"):
        next(cv.split(X, Y, GROUPS.reshape(-1, 1)))
    with pytest.raises(ValueError, match="Cannot make 3 folds from 2 rows"):
        next(cv.split(X[:3], groups=[0, 0, 1]))


def test_repr():
    assert repr(ClusterStratifiedKFold(3)) == (
        "ClusterStratifiedKFold(n_splits=3, random_state=None, shuffle=False)"
    )


def test_cross_val_score_without_routing():
    scores = cross_val_score(Ridge(), X, Y, groups=GROUPS, cv=ClusterStratifiedKFold(3))
    assert scores.shape == (3,)


def test_grid_search_routes_groups():
    cv = ClusterStratifiedKFold(3)
    assert cv.get_metadata_routing().consumes("split", ["groups"]) == {"groups"}
    grid = {"alpha": [0.1, 1.0]}
    with sklearn.config_context(enable_metadata_routing=True):
        search = GridSearchCV(Ridge(), grid, cv=cv).fit(X, Y, groups=GROUPS)
        assert search.n_splits_ == 3
        with pytest.raises(ValueError, match="pass groups"):
            GridSearchCV(Ridge(), grid, cv=cv).fit(X, Y)
    # With routing off, GridSearchCV passes groups to the splitter directly.
    search_off = GridSearchCV(Ridge(), grid, cv=cv).fit(X, Y, groups=GROUPS)
    np.testing.assert_allclose(
        search.cv_results_["mean_test_score"], search_off.cv_results_["mean_test_score"]
    )
