"""Evaluation metrics of an embedding (numpy + scikit-learn), as defined in ARCHITECTURE.md.

Every function takes embeddings as arrays (numpy, or CPU tensors numpy can read) and
returns plain floats. Embeddings of one episode (one view) are ``(T, D)``.

- :func:`triplet_accuracy`: paper protocol, 1000 seeded single-view triplets.
- :func:`alignment_error` / :func:`mean_alignment_error`: multi-view alignment.
- :func:`classification_errors` / :func:`classification_error`: validation frames' nearest
  neighbours among the training episodes' frames vs attribute labels;
  :func:`reach_attributes` / :func:`reach_attributes_for_episodes`: the reach task's labels
  (``target``, ``phase``) from joint states and targets; :func:`reach_classification_error`
  both together, :func:`reach_classification_floors` its two floors (exact joints, random).
- :func:`joint_probe_r2`: linear (ridge) probe from embedding to joint positions.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
from sklearn.linear_model import Ridge
from sklearn.metrics import r2_score

from tcn_embedding.losses import DEFAULT_MARGIN
from tcn_embedding.sampling import (
    DEFAULT_NEG_MARGIN,
    DEFAULT_POS_RANGE,
    sample_single_view_triplets,
)

logger = logging.getLogger(__name__)

_BLOCK = 1 << 22  # distances per block of the pairwise distance matrix (32 MiB)


def _as_2d(x: object, name: str) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 2:
        raise ValueError(f"{name}: expected a (T, D) array, got shape {a.shape}")
    return a


def _nearest(query: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Index into ``ref (M, D)`` of the nearest row (Euclidean) to each ``query (N, D)`` row.

    Ties go to the lowest index. Returns ``(N,)`` int64. Queries go in blocks of about
    :data:`_BLOCK` distances, so memory stays bounded whatever ``N`` and ``M``.
    """
    ref_sq = (ref**2).sum(axis=1)
    out = np.empty(len(query), dtype=np.int64)
    rows = max(1, _BLOCK // max(1, len(ref)))
    for start in range(0, len(query), rows):
        q = query[start : start + rows]
        # ||q - r||^2 without the ||q||^2 term, which is constant along each row.
        d = ref_sq[None, :] - 2.0 * (q @ ref.T)
        out[start : start + len(q)] = np.argmin(d, axis=1)
    return out


def triplet_accuracy(
    embeddings_per_episode: Sequence[np.ndarray],
    n_triplets: int = 1000,
    margin: float = DEFAULT_MARGIN,
    seed: int = 0,
    pos_range: int = DEFAULT_POS_RANGE,
    neg_margin: int = DEFAULT_NEG_MARGIN,
) -> tuple[float, float]:
    """Single-view triplet accuracy, paper protocol.

    ``n_triplets`` triplets are spread evenly over the episodes (the first
    ``n_triplets % E`` episodes get one more), drawn with
    :func:`~tcn_embedding.sampling.sample_single_view_triplets` from one
    ``np.random.default_rng(seed)``: positive within ``pos_range`` frames of the anchor,
    negative at least ``neg_margin`` away. With ``d`` the squared L2 distance, returns the
    fractions of triplets with ``d(a, p) < d(a, n)`` and with ``d(a, p) + margin < d(a, n)``.

    Args:
        embeddings_per_episode: one ``(T_e, D)`` array per episode.
    """
    if len(embeddings_per_episode) == 0:
        raise ValueError("triplet_accuracy needs at least one episode, got none")
    if n_triplets < 1:
        raise ValueError(f"n_triplets must be >= 1, got {n_triplets}")
    rng = np.random.default_rng(seed)
    n_ep = len(embeddings_per_episode)
    correct = correct_margin = total = 0
    for e, emb in enumerate(embeddings_per_episode):
        emb = _as_2d(emb, f"episode {e}")
        k = n_triplets // n_ep + (1 if e < n_triplets % n_ep else 0)
        try:
            idx = sample_single_view_triplets(len(emb), k, rng, pos_range, neg_margin)
        except ValueError as exc:
            raise ValueError(f"episode {e}: {exc}") from exc
        a, p, n = emb[idx[:, 0]], emb[idx[:, 1]], emb[idx[:, 2]]
        d_ap = ((a - p) ** 2).sum(axis=1)
        d_an = ((a - n) ** 2).sum(axis=1)
        correct += int((d_ap < d_an).sum())
        correct_margin += int((d_ap + margin < d_an).sum())
        total += k
    return correct / total, correct_margin / total


def alignment_error(views: Sequence[np.ndarray]) -> float:
    """Multi-view alignment error of one episode.

    For each pair of views ``i < j``: ``mean_t |t - argmin_s ||e_i[t] - e_j[s]||| / T``;
    returns the mean over pairs. 0 is perfect; matching frames at random gives about 1/3.

    Args:
        views: ``V >= 2`` arrays ``(T, D)``, one per view, time-synchronised.
    """
    if len(views) < 2:
        raise ValueError(f"alignment_error needs at least 2 views, got {len(views)}")
    embs = [_as_2d(v, f"view {i}") for i, v in enumerate(views)]
    lengths = {len(v) for v in embs}
    if len(lengths) != 1 or 0 in lengths:
        raise ValueError(
            f"views must have the same, non-zero number of frames, got {[len(v) for v in embs]}"
        )
    n = len(embs[0])
    t = np.arange(n)
    errors = [
        float(np.mean(np.abs(t - _nearest(embs[i], embs[j]))) / n)
        for i in range(len(embs))
        for j in range(i + 1, len(embs))
    ]
    return float(np.mean(errors))


def mean_alignment_error(episodes: Sequence[Sequence[np.ndarray]]) -> float:
    """Mean of :func:`alignment_error` over episodes (each episode weighs the same)."""
    if len(episodes) == 0:
        raise ValueError("mean_alignment_error needs at least one episode, got none")
    return float(np.mean([alignment_error(views) for views in episodes]))


UNLABELLED = -1
"""The label of a frame an attribute leaves unlabelled (``target`` before half the path)."""

PHASE_BOUNDS = (0.25, 0.75)
"""``phase`` boundaries on the fraction of the joint-space path done: phase 0 below the
first, 1 between them (both included), 2 above the second."""

TARGET_FROM = 0.5
"""``target`` labels the frames past this fraction of the joint-space path."""


def path_fraction(joint_positions: np.ndarray) -> np.ndarray:
    """Fraction of the joint-space path done at each frame of ``joint_positions (T, J)``:
    cumulative ``sum_k ||q_{k+1} - q_k||`` over its total, ``(T,)`` in [0, 1] (all 0 when the
    arm never moves)."""
    q = np.asarray(joint_positions, dtype=np.float64)
    if q.ndim != 2 or len(q) < 1:
        raise ValueError(f"expected joint positions shaped (T >= 1, J), got {q.shape}")
    path = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(q, axis=0), axis=1))])
    return path / path[-1] if path[-1] > 0 else np.zeros(len(q))


def reach_attributes(joint_positions: np.ndarray, target: int) -> dict[str, np.ndarray]:
    """The classification attributes of one reach episode (ARCHITECTURE.md), from its
    recorded joint positions ``(T, J)`` and the target it reaches.

    Returns name -> ``(T,)`` int64 labels:

    - ``"target"``: ``target`` on the frames past :data:`TARGET_FROM` of the path (where the
      pose shows where the arm goes), :data:`UNLABELLED` before;
    - ``"phase"``: 0, 1 or 2 as the fraction of the path done (:func:`path_fraction`) is
      below 0.25, in [0.25, 0.75] or above 0.75 (:data:`PHASE_BOUNDS`).
    """
    if int(target) != target or target < 0:
        raise ValueError(f"target must be a class index >= 0, got {target!r}")
    done = path_fraction(joint_positions)
    lo, hi = PHASE_BOUNDS
    return {
        "target": np.where(done > TARGET_FROM, int(target), UNLABELLED).astype(np.int64),
        "phase": ((done >= lo).astype(np.int64) + (done > hi)).astype(np.int64),
    }


def reach_attributes_for_episodes(
    joint_positions_per_episode: Sequence[np.ndarray], targets: Sequence[int]
) -> dict[str, list[np.ndarray]]:
    """:func:`reach_attributes` of every episode: name -> one ``(T_e,)`` array per episode,
    the form :func:`classification_errors` takes."""
    if len(joint_positions_per_episode) != len(targets):
        raise ValueError(
            f"{len(joint_positions_per_episode)} episodes' joint positions but "
            f"{len(targets)} targets"
        )
    out: dict[str, list[np.ndarray]] = {}
    for q, target in zip(joint_positions_per_episode, targets, strict=True):
        for name, labels in reach_attributes(q, target).items():
            out.setdefault(name, []).append(labels)
    return out


def _frames_and_labels(
    embeddings: Sequence[Sequence[np.ndarray]],
    attributes: Mapping[str, Sequence[np.ndarray]],
    what: str,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Every frame of every view stacked ``(N, D)``, and each attribute's labels alike
    ``(N,)`` (an episode's labels repeated for each of its views)."""
    if len(embeddings) == 0:
        raise ValueError(f"classification error needs {what} episodes, got none")
    rows: list[np.ndarray] = []
    labels: dict[str, list[np.ndarray]] = {name: [] for name in attributes}
    for name, per_episode in attributes.items():
        if len(per_episode) != len(embeddings):
            raise ValueError(
                f"{what} attribute {name!r}: {len(per_episode)} label arrays for "
                f"{len(embeddings)} episodes"
            )
    for e, views in enumerate(embeddings):
        if len(views) == 0:
            raise ValueError(f"{what} episode {e} has no views")
        for v, emb in enumerate(views):
            emb = _as_2d(emb, f"{what} episode {e} view {v}")
            for name, per_episode in attributes.items():
                lab = np.asarray(per_episode[e]).reshape(-1)
                if len(lab) != len(emb):
                    raise ValueError(
                        f"{what} attribute {name!r}, episode {e}: {len(lab)} labels for "
                        f"{len(emb)} frames"
                    )
                labels[name].append(lab)
            rows.append(emb)
    return np.concatenate(rows), {k: np.concatenate(v) for k, v in labels.items()}


def classification_errors(
    train_embeddings: Sequence[Sequence[np.ndarray]],
    train_attributes: Mapping[str, Sequence[np.ndarray]],
    val_embeddings: Sequence[Sequence[np.ndarray]],
    val_attributes: Mapping[str, Sequence[np.ndarray]],
) -> dict[str, float]:
    """Classification error per attribute (ARCHITECTURE.md): nearest neighbours in the
    training episodes.

    Each validation frame of every view takes its nearest neighbour (Euclidean) among all
    frames of all views of the training episodes, labelled or not; for each attribute, the
    error is the share of its labelled validation frames (label not :data:`UNLABELLED`)
    whose neighbour's label differs (an unlabelled neighbour differs).

    Args:
        train_embeddings: ``[episode][view]`` -> ``(T_e, D)``.
        train_attributes: name -> one ``(T_e,)`` int label array per training episode (the
            same for each of its views).
        val_embeddings, val_attributes: the same for the validation episodes.

    Returns:
        name -> error in [0, 1].
    """
    if set(train_attributes) != set(val_attributes) or not val_attributes:
        raise ValueError(
            f"train and validation must label the same attributes (at least one), got "
            f"{sorted(train_attributes)} and {sorted(val_attributes)}"
        )
    ref, ref_labels = _frames_and_labels(train_embeddings, train_attributes, "training")
    query, query_labels = _frames_and_labels(val_embeddings, val_attributes, "validation")
    if ref.shape[1] != query.shape[1]:
        raise ValueError(
            f"training embeddings are {ref.shape[1]}-D but validation ones {query.shape[1]}-D"
        )
    nearest = _nearest(query, ref)
    out: dict[str, float] = {}
    for name, labels in query_labels.items():
        labelled = labels != UNLABELLED
        if not labelled.any():
            raise ValueError(f"attribute {name!r} labels no validation frame")
        out[name] = float(np.mean(ref_labels[name][nearest[labelled]] != labels[labelled]))
    return out


def classification_error(
    train_embeddings: Sequence[Sequence[np.ndarray]],
    train_attributes: Mapping[str, Sequence[np.ndarray]],
    val_embeddings: Sequence[Sequence[np.ndarray]],
    val_attributes: Mapping[str, Sequence[np.ndarray]],
) -> float:
    """The mean over attributes of :func:`classification_errors`."""
    errors = classification_errors(
        train_embeddings, train_attributes, val_embeddings, val_attributes
    )
    return float(np.mean(list(errors.values())))


def reach_classification_error(
    train_embeddings: Sequence[Sequence[np.ndarray]],
    train_joints: Sequence[np.ndarray],
    train_targets: Sequence[int],
    val_embeddings: Sequence[Sequence[np.ndarray]],
    val_joints: Sequence[np.ndarray],
    val_targets: Sequence[int],
) -> tuple[float, dict[str, float]]:
    """The classification error of ARCHITECTURE.md on reach episodes: the mean over the
    ``target`` and ``phase`` attributes (:func:`reach_attributes`, from each episode's joint
    positions ``(T_e, J)`` and target) of :func:`classification_errors`, and each attribute's.

    Embeddings are ``[episode][view] -> (T_e, D)``; the floors are the same call with the
    joint positions, or random vectors, as every view's embedding.
    """
    errors = classification_errors(
        train_embeddings,
        reach_attributes_for_episodes(train_joints, train_targets),
        val_embeddings,
        reach_attributes_for_episodes(val_joints, val_targets),
    )
    return float(np.mean(list(errors.values()))), errors


def reach_classification_floors(
    train_joints: Sequence[np.ndarray],
    train_targets: Sequence[int],
    val_joints: Sequence[np.ndarray],
    val_targets: Sequence[int],
    *,
    views: int = 1,
    dim: int = 32,
    seed: int = 0,
) -> dict[str, tuple[float, dict[str, float]]]:
    """The two floors the classification error is reported beside (ARCHITECTURE.md), each
    :func:`reach_classification_error` of a reference embedding of ``views`` views:

    - ``"joints"``: the exact joint positions ``(T_e, J)`` as every view's embedding, what a
      perfect pose code scores;
    - ``"random"``: independent standard normal vectors ``(T_e, dim)`` for every frame and
      view (training episodes first, then validation, from ``np.random.default_rng(seed)``),
      what chance scores.

    Returns name -> (mean error, error per attribute).
    """
    if views < 1 or dim < 1:
        raise ValueError(f"views and dim must be >= 1, got {views} and {dim}")
    rng = np.random.default_rng(seed)

    def random(joints: Sequence[np.ndarray]) -> list[list[np.ndarray]]:
        return [[rng.standard_normal((len(q), dim)) for _ in range(views)] for q in joints]

    def exact(joints: Sequence[np.ndarray]) -> list[list[np.ndarray]]:
        return [[np.asarray(q, dtype=np.float64)] * views for q in joints]

    out: dict[str, tuple[float, dict[str, float]]] = {}
    for name, embed in (("joints", exact), ("random", random)):
        train_emb = embed(train_joints)  # (drawn before the validation episodes')
        out[name] = reach_classification_error(
            train_emb, train_joints, train_targets, embed(val_joints), val_joints, val_targets
        )
    return out


def _stack(x: np.ndarray | Sequence[np.ndarray], name: str) -> np.ndarray:
    if isinstance(x, np.ndarray):
        return _as_2d(x, name)
    return _as_2d(np.concatenate([np.asarray(a, dtype=np.float64) for a in x]), name)


def joint_probe_r2(
    train_emb: np.ndarray | Sequence[np.ndarray],
    train_q: np.ndarray | Sequence[np.ndarray],
    val_emb: np.ndarray | Sequence[np.ndarray],
    val_q: np.ndarray | Sequence[np.ndarray],
    alpha: float = 1.0,
) -> float:
    """R^2 of a ridge regression from embeddings to joint positions.

    Fits ``sklearn.linear_model.Ridge(alpha)`` on ``train_emb (N, D) -> train_q (N, J)`` and
    scores the predictions for ``val_emb (M, D)`` against ``val_q (M, J)``, averaging R^2
    uniformly over joints. Per-episode lists are concatenated. 1 is perfect; a constant
    prediction scores about 0 and worse ones below 0.
    """
    x_tr, y_tr = _stack(train_emb, "train_emb"), _stack(train_q, "train_q")
    x_va, y_va = _stack(val_emb, "val_emb"), _stack(val_q, "val_q")
    if len(x_tr) != len(y_tr) or len(x_va) != len(y_va):
        raise ValueError(
            f"embeddings and joint positions must have matching rows, got train "
            f"{len(x_tr)} vs {len(y_tr)}, val {len(x_va)} vs {len(y_va)}"
        )
    if x_tr.shape[1] != x_va.shape[1] or y_tr.shape[1] != y_va.shape[1]:
        raise ValueError(
            f"train and val widths differ: embeddings {x_tr.shape[1]} vs {x_va.shape[1]}, "
            f"joints {y_tr.shape[1]} vs {y_va.shape[1]}"
        )
    probe = Ridge(alpha=alpha).fit(x_tr, y_tr)
    return float(r2_score(y_va, probe.predict(x_va), multioutput="uniform_average"))
