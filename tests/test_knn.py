import numpy as np
import pytest
import scipy.sparse as sp

from gtcrec.graph import item_knn_graph, normalize_graph, user_cooccurrence_graph


def test_item_knn_matches_dense_reference_across_chunks():
    rng = np.random.default_rng(0)
    feats = rng.normal(size=(53, 8)).astype(np.float32)
    graph = item_knn_graph(feats, 5, chunk_size=7)
    unit = feats / np.linalg.norm(feats, axis=1, keepdims=True)
    sim = unit @ unit.T
    np.fill_diagonal(sim, -np.inf)
    for i in range(53):
        assert set(graph[i].indices) == set(np.argsort(-sim[i])[:5])
    assert graph.nnz == 53 * 5 and graph.diagonal().sum() == 0


def test_item_knn_weighted_and_self():
    feats = np.eye(4, dtype=np.float32) + 0.01
    graph = item_knn_graph(feats, 1, include_self=True, weighted=True)
    assert np.allclose(graph.diagonal(), 1.0, atol=1e-5)


def test_user_cooccurrence_matches_dense_reference():
    rng = np.random.default_rng(1)
    dense = (rng.random((40, 30)) < 0.15).astype(np.float32)
    graph = user_cooccurrence_graph(sp.csr_matrix(dense), 3, chunk_size=6)
    shared = dense @ dense.T
    np.fill_diagonal(shared, 0)
    for u in range(40):
        row = graph[u]
        assert u not in row.indices
        assert (row.data > 0).all()
        # the kept counts are the k largest (ties may pick either user)
        expected = np.sort(shared[u])[::-1][:3]
        assert np.allclose(np.sort(row.data)[::-1], expected[expected > 0])


def _dense_cooccurrence_reference(train: sp.csr_matrix, k: int, seed: int = 0) -> sp.csr_matrix:
    """The earlier dense implementation: every user's counts against all users, top-k with the same jitter."""
    import torch

    from gtcrec.graph.knn import _pair_hash

    def _pair_jitter(rows, cols, seed):  # the old tie-break: the pair hash as a float in [0, 0.5)
        return _pair_hash(rows, cols, seed).to(torch.float32) / 4294967296 * 0.5

    dense = torch.from_numpy((train > 0).astype(np.float32).toarray())
    n = dense.shape[0]
    counts = dense @ dense.T
    counts.fill_diagonal_(0)
    kth = torch.topk(counts, k, dim=1).values[:, -1:]
    tie_r, tie_c = ((counts == kth) & (counts > 0)).nonzero(as_tuple=True)
    keyed = counts.clone()
    keyed[tie_r, tie_c] += _pair_jitter(tie_r, tie_c, seed)
    top = torch.topk(keyed, k, dim=1).indices
    mat = sp.csr_matrix((counts.gather(1, top).reshape(-1).numpy(),
                         (np.repeat(np.arange(n), k), top.reshape(-1).numpy())), shape=(n, n))
    mat.eliminate_zeros()
    return mat


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sparse_user_cooccurrence_equals_the_dense_computation_whatever_the_chunks(seed):
    rng = np.random.default_rng(seed)
    n_users, n_items = 120, 60
    popularity = rng.pareto(1.2, n_items) + 1  # heavy-tailed items: many tied counts, some long rows
    dense = (rng.random((n_users, n_items)) < 0.02 * popularity / popularity.mean()).astype(np.float32)
    train = sp.csr_matrix(dense)
    reference = _dense_cooccurrence_reference(train, 8, seed)
    for chunk_size, max_entries in ((1024, 1 << 24), (7, 1 << 24), (1024, 50), (3, 1)):
        graph = user_cooccurrence_graph(train, 8, chunk_size=chunk_size, seed=seed, max_entries=max_entries)
        assert (graph != reference).nnz == 0, (chunk_size, max_entries)


def test_user_cooccurrence_with_counts_above_the_histogram_cap_equals_the_dense_computation():
    # shared counts spread over 0..~150, so that many users' k-th count lies in the capped top bucket (64+)
    from gtcrec.graph.knn import COUNT_BUCKETS

    rng = np.random.default_rng(5)
    dense = (rng.random((80, 400)) < rng.uniform(0.05, 0.6, (80, 1))).astype(np.float32)
    train = sp.csr_matrix(dense)
    shared = dense @ dense.T
    np.fill_diagonal(shared, 0)
    kth = -np.sort(-shared, axis=1)[:, 5]
    assert (kth > COUNT_BUCKETS).sum() > 10 and (kth < COUNT_BUCKETS).sum() > 10  # both branches are used
    reference = _dense_cooccurrence_reference(train, 6, 0)
    for chunk_size in (1024, 9):
        assert (user_cooccurrence_graph(train, 6, chunk_size=chunk_size) != reference).nnz == 0


def test_ties_at_large_counts_are_broken_at_random_too():
    # 300 users who all share the same 500 items: every pair ties at count 500, where count + a float jitter
    # would collide in float32 and fall back to the lowest ids
    graph = user_cooccurrence_graph(sp.csr_matrix(np.ones((300, 500), dtype=np.float32)), 20)
    assert np.all(np.diff(graph.indptr) == 20) and np.all(graph.data == 500)
    assert graph.indices.mean() == pytest.approx(150, rel=0.1)  # by id it would be about 10
    import torch

    from gtcrec.graph.knn import _pair_hash

    for u in (0, 137, 299):  # exactly the 20 others with the largest pair hash
        others = torch.tensor([v for v in range(300) if v != u])
        keys = _pair_hash(torch.full_like(others, u), others, 0)
        assert set(graph[u].indices) == set(others[torch.topk(keys, 20).indices].tolist())


def test_user_cooccurrence_ties_are_broken_at_random_not_by_id():
    # 200 users all share item 0 (count 1 with everyone); users 0..49 also share item 1 with each other
    n = 200
    dense = np.zeros((n, 2), dtype=np.float32)
    dense[:, 0] = 1
    dense[:50, 1] = 1
    graph = user_cooccurrence_graph(sp.csr_matrix(dense), 60, chunk_size=64)
    first_group = graph[:50]
    assert np.all(np.diff(first_group.indptr) == 60)
    for u in range(50):  # its 49 count-2 neighbours are all kept, then 11 of the 150 count-1 ties
        row = graph[u]
        assert set(range(50)) - {u} <= set(row.indices)
        assert np.sort(row.data)[-49:].min() == 2
    tied = graph[50:]  # every user 50..199 ties with all 199 others at count 1
    assert tied.indices.mean() == pytest.approx(n / 2, rel=0.1)  # by id it would be about 30
    again = user_cooccurrence_graph(sp.csr_matrix(dense), 60, chunk_size=7)
    assert (graph != again).nnz == 0  # the tie-break does not depend on chunking
    other_seed = user_cooccurrence_graph(sp.csr_matrix(dense), 60, seed=1)
    assert (graph != other_seed).nnz > 0


@pytest.mark.parametrize("how", ["sym", "row"])
def test_normalize_graph(how):
    mat = sp.csr_matrix(np.array([[0, 2, 1, 0], [1, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]], dtype=np.float32))
    out = normalize_graph(mat, how).toarray()
    assert np.isfinite(out).all() and out[3].sum() == 0  # isolated node: zero row, no NaN
    if how == "row":
        assert np.allclose(out.sum(1)[:2], 1.0) and out[2].sum() == 0
    else:
        assert np.allclose(out, out.T)
        sym = np.maximum(mat.toarray(), mat.toarray().T)
        deg = sym.sum(1)
        assert out[0, 1] == pytest.approx(sym[0, 1] / np.sqrt(deg[0] * deg[1]))


@pytest.mark.parametrize("huge_counts", [False, True])
def test_rank_order_sorts_by_row_then_count_then_key_descending_and_is_stable(huge_counts):
    # huge counts do not fit in the packed key: the lexsort fallback must give the same order
    from gtcrec.graph.knn import _rank_order

    rng = np.random.default_rng(0)
    rows = rng.integers(0, 50, 5000)
    counts = rng.integers(0, 4, 5000) + (1 << 40 if huge_counts else 0)
    keys = rng.integers(0, 8, 5000) * (1 << 29)  # few distinct keys: many exact ties
    order = _rank_order(rows, counts, keys)
    expected = sorted(range(5000), key=lambda i: (rows[i], -counts[i], -keys[i], i))
    assert order.tolist() == expected


def test_user_cooccurrence_breaks_equal_count_and_hash_by_the_lower_user_id(monkeypatch):
    # a hash with three values: many pairs tie on (count, hash), and the graph must still be the exact
    # ordering by count, then hash, then the other user's id, whatever the chunking
    import torch

    from gtcrec.graph import knn

    monkeypatch.setattr(knn, "_pair_hash", lambda rows, cols, seed: (rows * 7 + cols) % 3)
    rng = np.random.default_rng(3)
    dense = (rng.random((90, 40)) < 0.15).astype(np.float32)
    shared = dense @ dense.T
    np.fill_diagonal(shared, 0)
    k = 5
    for chunk_size in (1024, 4):
        graph = knn.user_cooccurrence_graph(sp.csr_matrix(dense), k, chunk_size=chunk_size)
        for u in range(90):
            others = [v for v in range(90) if shared[u, v] > 0]
            hashes = knn._pair_hash(torch.tensor(u), torch.tensor(others), 0).tolist() if others else []
            best = sorted(zip(others, hashes), key=lambda vh: (-shared[u, vh[0]], -vh[1], vh[0]))[:k]
            assert sorted(graph[u].indices.tolist()) == sorted(v for v, _ in best), (chunk_size, u)
