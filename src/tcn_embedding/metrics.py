"""Evaluation metrics of an embedding (numpy + scikit-learn), as defined in ARCHITECTURE.md.

Every function takes embeddings as arrays (numpy, or CPU tensors numpy can read) and
returns plain floats. Embeddings of one episode (one view) are ``(T, D)``.

- :func:`triplet_accuracy`: paper protocol, 1000 seeded single-view triplets.
- :func:`alignment_error` / :func:`mean_alignment_error`: multi-view alignment.
- :func:`classification_error` / :func:`classification_errors` /
  :func:`mean_classification_error`: nearest neighbour across episodes vs attribute labels.
- :func:`joint_attributes` / :func:`joint_attributes_for_episodes`: labels from joint states.
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

_CHUNK = 1024  # query rows per block of the pairwise distance matrix


def _as_2d(x: object, name: str) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 2:
        raise ValueError(f"{name}: expected a (T, D) array, got shape {a.shape}")
    return a


def _nearest(
    query: np.ndarray,
    ref: np.ndarray,
    query_groups: np.ndarray | None = None,
    ref_groups: np.ndarray | None = None,
) -> np.ndarray:
    """Index into ``ref (M, D)`` of the nearest row (Euclidean) to each ``query (N, D)`` row.

    With groups, rows of ``ref`` in the query row's own group are excluded. Ties go to the
    lowest index. Returns ``(N,)`` int64.
    """
    ref_sq = (ref**2).sum(axis=1)
    out = np.empty(len(query), dtype=np.int64)
    for start in range(0, len(query), _CHUNK):
        q = query[start : start + _CHUNK]
        # ||q - r||^2 without the ||q||^2 term, which is constant along each row.
        d = ref_sq[None, :] - 2.0 * (q @ ref.T)
        if query_groups is not None and ref_groups is not None:
            d[query_groups[start : start + _CHUNK, None] == ref_groups[None, :]] = np.inf
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


def classification_errors(
    embeddings: Sequence[np.ndarray], attributes: Mapping[str, Sequence[np.ndarray]]
) -> dict[str, float]:
    """``1 - recall@1`` per attribute, nearest neighbours restricted to other episodes.

    Each frame's nearest neighbour (Euclidean) is searched among the frames of all *other*
    episodes; the frame counts as correct for an attribute when both carry the same label.

    Args:
        embeddings: one ``(T_e, D)`` array per episode (at least 2 episodes).
        attributes: name -> one ``(T_e,)`` int label array per episode.

    Returns:
        name -> error in [0, 1].
    """
    if len(embeddings) < 2:
        raise ValueError(
            f"classification error needs at least 2 episodes (neighbours come from other "
            f"episodes), got {len(embeddings)}"
        )
    embs = [_as_2d(e, f"episode {i}") for i, e in enumerate(embeddings)]
    lengths = [len(e) for e in embs]
    for name, labels in attributes.items():
        found = [len(np.asarray(lab)) for lab in labels]
        if found != lengths:
            raise ValueError(
                f"attribute {name!r}: expected label arrays of lengths {lengths}, got {found}"
            )
    stacked = np.concatenate(embs)
    groups = np.repeat(np.arange(len(embs)), lengths)
    nearest = _nearest(stacked, stacked, groups, groups)
    out: dict[str, float] = {}
    for name, labels in attributes.items():
        flat = np.concatenate([np.asarray(lab).reshape(-1) for lab in labels])
        out[name] = float(np.mean(flat[nearest] != flat))
    return out


def classification_error(embeddings: Sequence[np.ndarray], labels: Sequence[np.ndarray]) -> float:
    """:func:`classification_errors` for a single attribute."""
    return classification_errors(embeddings, {"label": labels})["label"]


def mean_classification_error(
    embeddings: Sequence[np.ndarray], attributes: Mapping[str, Sequence[np.ndarray]]
) -> float:
    """Mean over attributes of :func:`classification_errors`."""
    if not attributes:
        raise ValueError("mean_classification_error needs at least one attribute, got none")
    return float(np.mean(list(classification_errors(embeddings, attributes).values())))


def _bins(x: np.ndarray, lo: float, hi: float, n_bins: int) -> np.ndarray:
    """Bin ``x`` into ``n_bins`` equal-width bins of ``[lo, hi]`` (all 0 when hi <= lo)."""
    if not hi > lo:
        return np.zeros(len(x), dtype=np.int64)
    return np.clip(np.floor(n_bins * (x - lo) / (hi - lo)), 0, n_bins - 1).astype(np.int64)


BAND_JOINTS = (0, 1, 3)
"""Joints whose position bands are classification attributes: A1 (base yaw), A2 (shoulder
pitch, raises and lowers the arm most) and A4 (elbow): the pose as a camera sees it."""


def joint_attributes(
    joint_positions: np.ndarray,
    *,
    n_bins: int = 3,
    moving_fraction: float = 0.1,
    band_joints: Sequence[int] = BAND_JOINTS,
    band_ranges: Sequence[tuple[float, float]] | None = None,
) -> dict[str, np.ndarray]:
    """Attribute labels of one episode derived from its joint positions ``(T, J)``.

    Returns name -> ``(T,)`` int64 labels:

    - ``"a<j+1>_band"`` for each ``j`` in ``band_joints``: which of ``n_bins`` equal-width
      bands of ``band_ranges[i]`` joint ``j`` lies in (values outside go to the end bands;
      None uses this episode's min/max; :func:`joint_attributes_for_episodes` shares one
      range across episodes so labels are comparable between them). These are what one
      frame shows, and :func:`frame_classification_error` averages them.
    - ``"phase"``: which of ``n_bins`` equal parts of the motion the frame is in, by progress
      along the path: cumulative joint-space distance ``sum_k ||q_{k+1} - q_k||`` divided by
      the total (all 0 if the arm never moves).
    - ``"moving"``: 1 when the joint-space speed (central finite differences, per frame) is
      above ``moving_fraction`` times the episode's peak speed, else 0.

    Phase and motion are reported but are not properties of a single frame of a random
    start-to-goal demonstration: the same pose is early in one episode and late in another,
    and a still frame does not show speed, so a neighbour from another episode matches them
    only by chance (measured: phase error 62 % against 67 % for chance, docs/embedding.md).
    """
    q = np.asarray(joint_positions, dtype=np.float64)
    if q.ndim != 2 or len(q) < 2:
        raise ValueError(f"expected joint positions shaped (T >= 2, J), got {q.shape}")
    band_joints = tuple(band_joints)
    for j in band_joints:
        if not 0 <= j < q.shape[1]:
            raise ValueError(f"band_joints must index the {q.shape[1]} joints, got {j}")
    if band_ranges is not None and len(band_ranges) != len(band_joints):
        raise ValueError(f"{len(band_ranges)} band_ranges for {len(band_joints)} band_joints")
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    if not 0.0 <= moving_fraction < 1.0:
        raise ValueError(f"moving_fraction must be in [0, 1), got {moving_fraction}")
    out: dict[str, np.ndarray] = {}
    for i, j in enumerate(band_joints):
        x = q[:, j]
        lo, hi = (float(x.min()), float(x.max())) if band_ranges is None else band_ranges[i]
        out[f"a{j + 1}_band"] = _bins(x, lo, hi, n_bins)
    step = np.linalg.norm(np.diff(q, axis=0), axis=1)
    path = np.concatenate([[0.0], np.cumsum(step)])
    if path[-1] > 0:
        phase = np.minimum(np.floor(n_bins * path / path[-1]), n_bins - 1).astype(np.int64)
    else:
        phase = np.zeros(len(q), dtype=np.int64)
    speed = np.linalg.norm(np.gradient(q, axis=0), axis=1)
    peak = float(speed.max())
    moving = (speed > moving_fraction * peak).astype(np.int64) if peak > 0 else 0 * phase
    out["phase"] = phase
    out["moving"] = moving
    return out


def joint_attributes_for_episodes(
    joint_positions_per_episode: Sequence[np.ndarray],
    *,
    n_bins: int = 3,
    moving_fraction: float = 0.1,
    band_joints: Sequence[int] = BAND_JOINTS,
) -> dict[str, list[np.ndarray]]:
    """:func:`joint_attributes` of every episode, each band over its joint's range across
    all episodes. Returns name -> one ``(T_e,)`` array per episode, the form
    :func:`classification_errors` takes."""
    qs = [np.asarray(q, dtype=np.float64) for q in joint_positions_per_episode]
    if not qs:
        raise ValueError("joint_attributes_for_episodes needs at least one episode, got none")
    widest = max(band_joints, default=-1)
    if any(q.ndim != 2 or q.shape[1] <= widest for q in qs):
        raise ValueError(
            f"expected (T, J) joint positions with J > {widest} (band_joints "
            f"{tuple(band_joints)}), got shapes {[q.shape for q in qs]}"
        )
    ranges = []
    for j in band_joints:
        values = np.concatenate([q[:, j] for q in qs])
        ranges.append((float(values.min()), float(values.max())))
    out: dict[str, list[np.ndarray]] = {}
    for q in qs:
        labels = joint_attributes(
            q,
            n_bins=n_bins,
            moving_fraction=moving_fraction,
            band_joints=band_joints,
            band_ranges=ranges,
        )
        for name, lab in labels.items():
            out.setdefault(name, []).append(lab)
    return out


def frame_classification_error(errors: Mapping[str, float]) -> float:
    """The headline classification error: the mean of :func:`classification_errors` over
    the attributes one frame shows (the ``*_band`` ones of :func:`joint_attributes`)."""
    bands = [value for name, value in errors.items() if name.endswith("_band")]
    if not bands:
        raise ValueError(f"no *_band attribute among {sorted(errors)}")
    return float(np.mean(bands))


def joint_classification_error(
    embeddings: Sequence[np.ndarray], joint_positions: Sequence[np.ndarray]
) -> tuple[float, dict[str, float]]:
    """The classification error of ARCHITECTURE.md for episodes' embeddings ``(T_e, D)`` and
    joint positions ``(T_e, J)``: the headline (:func:`frame_classification_error`) and every
    attribute's error (:func:`classification_errors` of
    :func:`joint_attributes_for_episodes`)."""
    errors = classification_errors(embeddings, joint_attributes_for_episodes(joint_positions))
    return frame_classification_error(errors), errors


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
