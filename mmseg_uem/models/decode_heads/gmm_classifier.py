"""Generative (GMMSeg) per-pixel classifier, shared by the inlier ``GMMHead`` and the UEM's
``UEMHead(classifier='gmm')``.

Shape key: B batch, D embedding dim, K classes, C components per class, M = K*C,
S memory slots per component, P = B*h*w pixels (embeddings), h x w embedding grid.

GMMSeg (Liang et al., NeurIPS 2022; leonnnop/GMMSeg ``gmmseg_head.py``) as ported by the
UEM code: every class is a mixture of C diagonal Gaussians over L2-normalised embeddings.
The Gaussians are not learned by gradient: a FIFO memory per component collects correctly
classified embeddings (assigned to components by Sinkhorn), and every ``update_interval``
training steps an EM M-step moves the means towards the memory and replaces the stds.
"""
import inspect
import math
from typing import NamedTuple, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.dist import all_gather, all_reduce, get_rank, get_world_size
from torch import Tensor

from ..utils.checks import after_checks
from ..utils.gmm import (
    diagonal_gaussian_log_prob,
    em_update,
    group_counts,
    pick_evenly_per_group,
    ring_buffer_write,
)
from ..utils.sinkhorn import grouped_sinkhorn_knopp

#: class score of a GMMClassifier (its ``score_mode``); not the anomaly scores of
#: :mod:`mmseg_uem.models.utils.scores`
CLASS_SCORE_MODES = ('max_ln', 'logsumexp')


class GMMOutput(NamedTuple):
    scores: Tensor  # (B, K, h, w) class scores
    log_likelihoods: Tensor  # (P, M) component log-likelihoods, component m = k*C + c
    embeddings: Tensor  # (P, D) unit-norm embeddings, pixels in (b, y, x) order


class GMMClassifier(nn.Module):
    """Per-pixel Gaussian-mixture classifier with memory-based EM (shared by GMMHead/UEMHead).

    Class score ``score_mode``: 'max_ln' = LayerNorm over classes of the max over components
    of the log-likelihood (GMMSeg and the UEM code; for K = 2 it saturates to +-1 once the
    two maxima differ by ~0.1), or 'logsumexp' = the equal-weight mixture log-density
    logsumexp_c log N - log C (the paper's formula), without LayerNorm.

    Buffers (persistent, in checkpoints): ``means`` / ``stds`` (K, C, D) (stds are standard
    deviations), ``memory`` (K, C, S, D), ``memory_ptr`` (K, C), ``num_steps`` ().
    """

    def __init__(
        self,
        embed_dims: int,
        num_classes: int,
        *,
        num_components: int = 5,
        memory_size: int = 8000,
        max_sample_per_component: int = 20,
        update_interval: int = 5,
        mean_momentum: float = 0.999,
        std_momentum: float = 0.0,
        var_floor: float = 1e-2,
        sinkhorn_iters: int = 3,
        sinkhorn_epsilon: float = 0.05,
        score_mode: str = 'max_ln',
        score_norm_affine: bool = True,
    ) -> None:
        super().__init__()
        if score_mode not in CLASS_SCORE_MODES:
            raise ValueError(f'score_mode must be one of {CLASS_SCORE_MODES}, got {score_mode!r}')
        if not 1 <= max_sample_per_component <= memory_size:
            raise ValueError('need 1 <= max_sample_per_component <= memory_size, got '
                             f'{max_sample_per_component}, {memory_size}')
        if update_interval < 1:
            raise ValueError(f'update_interval must be >= 1, got {update_interval}')
        self.embed_dims, self.num_classes, self.num_components = (
            embed_dims, num_classes, num_components)
        self.max_sample_per_component = max_sample_per_component
        self.update_interval = update_interval
        self.mean_momentum, self.std_momentum, self.var_floor = (
            mean_momentum, std_momentum, var_floor)
        self.sinkhorn_iters, self.sinkhorn_epsilon = sinkhorn_iters, sinkhorn_epsilon
        self.score_mode = score_mode
        self.embed_norm = nn.LayerNorm(embed_dims)
        self.score_norm = nn.LayerNorm(num_classes, elementwise_affine=score_norm_affine) \
            if score_mode == 'max_ln' else None
        shape = (num_classes, num_components, embed_dims)
        means = nn.init.trunc_normal_(torch.empty(shape), std=0.02)
        self.register_buffer('means', F.normalize(means, dim=-1))
        self.register_buffer('stds', torch.ones(shape))
        # random unit vectors, as GMMSeg: they take part in the EM until overwritten
        memory = torch.randn(num_classes, num_components, memory_size, embed_dims)
        self.register_buffer('memory', F.normalize(memory, dim=-1))
        self.register_buffer('memory_ptr', torch.zeros(num_classes, num_components,
                                                       dtype=torch.long))
        self.register_buffer('num_steps', torch.zeros((), dtype=torch.long))
        # (value, identity and version of the num_steps tensor it mirrors): see _step_count
        self._host_steps = (0, self._steps_key())

    def forward(self, feats: Tensor) -> GMMOutput:
        """Classify a (B, D, h, w) feature map; float32 with autocast off throughout."""
        batch, _, height, width = feats.shape
        with torch.autocast(feats.device.type, enabled=False):
            x = feats.float().permute(0, 2, 3, 1).reshape(-1, self.embed_dims)  # (P, D)
            emb = F.normalize(self.embed_norm(x), dim=-1)
            log_lik = diagonal_gaussian_log_prob(
                emb, self.means.flatten(0, 1), self.stds.flatten(0, 1))  # (P, M)
            per_class = log_lik.view(-1, self.num_classes, self.num_components)  # (P, K, C)
            if self.score_mode == 'max_ln':
                scores = self.score_norm(per_class.amax(-1))
            else:
                scores = torch.logsumexp(per_class, -1) - math.log(self.num_components)
        scores = scores.view(batch, height, width, -1).permute(0, 3, 1, 2)  # (B, K, h, w)
        return GMMOutput(scores, log_lik, emb)

    @torch.no_grad()
    def assign_components(self, log_likelihoods: Tensor, labels: Tensor) -> Tensor:
        """Sinkhorn-balanced component of every labelled pixel within its own class.

        Args:
            log_likelihoods: (P, M) from :meth:`forward`.
            labels: (P,) long class in [0, K), or -1 for pixels to ignore.

        Returns:
            (P,) long global component index k*C + c, -1 where ``labels`` is -1.
        """
        # All classes at once: row p is balanced among the C components of its own class.
        # Ignored rows form an extra group K whose result is discarded, so no masked
        # indexing (and no host synchronisation) is needed.
        valid = labels >= 0
        cls = labels.clamp(min=0)
        per_class = log_likelihoods.detach().view(-1, self.num_classes, self.num_components)
        own = per_class.gather(1, cls[:, None, None].expand(-1, 1, self.num_components))[:, 0]
        groups = torch.where(valid, cls, torch.full_like(cls, self.num_classes))
        _, assignment = grouped_sinkhorn_knopp(own, groups, self.num_classes + 1,
                                               num_iters=self.sinkhorn_iters,
                                               epsilon=self.sinkhorn_epsilon)
        return torch.where(valid, cls * self.num_components + assignment,
                           torch.full_like(labels, -1))

    def _step_count(self) -> int:
        """``num_steps`` as a host integer, mirrored so that deciding on an EM step does not
        read the device buffer: it is read again only when the buffer was changed from
        outside (loading a checkpoint, ``fill_``, ``.to()``, assignment), i.e. not in a
        training run."""
        if self._steps_key() != self._host_steps[1]:
            self._host_steps = (int(self.num_steps), self._steps_key())
        return self._host_steps[0]

    def _steps_key(self) -> tuple:
        """Changes whenever ``num_steps`` is modified in place or replaced."""
        return id(self.num_steps), self.num_steps._version

    def contrast_and_update(self, out: GMMOutput, labels: Tensor) -> Tensor:
        """The training step of a head built on this classifier: the contrastive CE of the
        raw log-likelihoods against the Sinkhorn-assigned component of every labelled pixel,
        and the EM state update from the correctly classified ones (queued with
        :func:`~mmseg_uem.models.utils.checks.after_checks`: inside the segmentor's
        ``deferred_checks`` it runs after the step's value checks passed).

        Args:
            out: :meth:`forward`'s output.
            labels: (P,) long class on the embedding grid, -1 where ignored
                (:func:`grid_labels`).

        Returns:
            The unweighted contrastive CE (:func:`contrast_loss`).
        """
        targets = self.assign_components(out.log_likelihoods, labels)
        loss = contrast_loss(out.log_likelihoods, targets)
        correct = out.scores.detach().argmax(1).flatten() == labels  # (P,) in (b, y, x) order
        after_checks(lambda: self.update(out.embeddings, targets, correct))
        return loss

    @torch.no_grad()
    def update(self, embeddings: Tensor, targets: Tensor, correct: Tensor) -> None:
        """One training step of the EM state; does nothing in eval mode.

        Enqueues at most ``max_sample_per_component`` correctly classified embeddings per
        component (evenly spaced over the pixels of all ranks, deterministic), then, every
        ``update_interval`` steps (step 0 included), re-estimates the components of the
        classes present in this step from their memories. A step whose embeddings hold NaN
        or inf (on any rank) changes neither memories nor Gaussians. Fixed-size work without
        host synchronisation: the selection is a sort and gathers, the memory write covers
        m slots per component, and the M-step runs for all components at once with the
        result kept where the class is present. Collective under DDP: every rank must call
        it every training step.

        Args:
            embeddings: (P, D) from :meth:`forward`.
            targets: (P,) global component index from :meth:`assign_components`, or -1.
            correct: (P,) bool, True where the class scores' argmax equals the label.
        """
        if not self.training:
            return
        num_comp = self.num_classes * self.num_components
        step = self._step_count()
        rows = embeddings.detach().float()
        labelled = targets >= 0
        classes = torch.where(labelled, targets // self.num_components,
                              torch.full_like(targets, self.num_classes))
        # (K + 1,): labelled pixels per class, then the number of non-finite values
        stats = group_counts(classes, self.num_classes + 1)
        stats[-1] = (~torch.isfinite(rows)).sum()
        groups = torch.where(correct & labelled, targets, torch.full_like(targets, -1))
        distributed = get_world_size() > 1
        picked, keep = pick_evenly_per_group(
            rows, groups, num_comp, self.max_sample_per_component,
            share=_share_over_ranks if distributed else None)
        if distributed:
            all_reduce(picked, op='sum')  # every slot is filled by exactly one rank
            all_reduce(stats, op='sum')
        finite = stats[-1] == 0
        ring_buffer_write(self.memory.view(num_comp, *self.memory.shape[2:]),
                          self.memory_ptr.view(-1), picked, keep & finite)
        if step % self.update_interval == 0:
            # every component in one pass; kept for the classes present in this step
            means, stds = em_update(self.means.flatten(0, 1), self.stds.flatten(0, 1),
                                    self.memory.flatten(0, 1),
                                    mean_momentum=self.mean_momentum,
                                    std_momentum=self.std_momentum, var_floor=self.var_floor)
            refresh = ((stats[:-1] > 0) & finite)[:, None, None]  # (K, 1, 1)
            self.means.copy_(torch.where(refresh, means.view_as(self.means), self.means))
            self.stds.copy_(torch.where(refresh, stds.view_as(self.stds), self.stds))
        self.num_steps += 1
        self._host_steps = (step + 1, self._steps_key())


def build_gmm_classifier(embed_dims: int, num_classes: int,
                         gmm_cfg: Optional[dict] = None) -> GMMClassifier:
    """A :class:`GMMClassifier` from a head's ``gmm_cfg`` (its keyword arguments, over the
    classifier's own defaults); unknown keys are an error naming them."""
    gmm_cfg = dict(gmm_cfg or {})
    valid = [name for name, p in inspect.signature(GMMClassifier).parameters.items()
             if p.kind is inspect.Parameter.KEYWORD_ONLY]
    unknown = sorted(set(gmm_cfg) - set(valid))
    if unknown:
        raise ValueError(f'unknown gmm_cfg keys {unknown}; valid: {valid}')
    return GMMClassifier(embed_dims, num_classes, **gmm_cfg)


def _share_over_ranks(counts: Tensor) -> Tuple[Tensor, Tensor]:
    """(G,) members per group on this rank -> on the ranks before it, and on all ranks."""
    per_rank = torch.stack(all_gather(counts))  # (W, G)
    return per_rank[:get_rank()].sum(0), per_rank.sum(0)


def grid_labels(labels: Tensor, size: Sequence[int], *, num_classes: int,
                ignore_labels: Sequence[int]) -> Tensor:
    """(B, 1, H, W) label map -> (B*h*w,) classes on the embedding grid, -1 where ignored.

    Labels are nearest-downsampled to the grid (GMMSeg); ids outside [0, num_classes) or in
    ``ignore_labels`` become -1.
    """
    small = F.interpolate(labels.float(), size=tuple(size), mode='nearest').long().flatten()
    valid = (small >= 0) & (small < num_classes)
    for ignored in ignore_labels:
        valid &= small != ignored
    return torch.where(valid, small, torch.full_like(small, -1))


def contrast_loss(log_likelihoods: Tensor, targets: Tensor) -> Tensor:
    """Mean CE over all M raw log-likelihoods vs the assigned component (0 if none valid).

    Summed over the valid pixels and divided by their count (at least 1), so there is no
    data-dependent branch or indexing: no host synchronisation.
    """
    total = F.cross_entropy(log_likelihoods, targets, ignore_index=-1, reduction='sum')
    return total / (targets >= 0).sum().clamp(min=1)
