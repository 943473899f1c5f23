"""PEBAL's objective: pixel-wise energy-biased abstention loss + energy regulariser.

Shape key: B batch, K inlier classes, K + 1 head channels (the last: abstention),
H x W label size.

PEBAL (tianyu0207/PEBAL, ``code/losses.py: Gambler, energy_loss``, combined in
``code/engine/trainer.py`` as ``gambler(no-outlier images) + gambler(outlier images)
+ 0.1 * energy_loss``) fine-tunes a head with one extra, learnable abstention channel a.
With p = softmax over the K + 1 channels, E = -logsumexp_k F_k (the project's ``Energy``
score over the K inlier channels) and the energy-biased reward
rho = GaussianBlur_7,sigma=1(E^2) (per image; gradients flow through it, as in PEBAL):

* abstention loss (:class:`PEBALAbstentionLoss`), with r = p_a / rho:
  images without outliers: -mean_inlier log(p_y + r);
  images with outliers: -( mean_inlier log(p_y + r)
  + outlier_reg * mean_{outlier pixel, k < K} log(max(p_k + r, 1e-7)) ), outlier_reg = 0.1;
  the two parts are summed (each a mean over its own images).
* energy regulariser (:class:`PEBALEnergyLoss`, weight 0.1):
  0.5 * ( mean_inlier relu(E - m_in)^2 + mean_outlier relu(m_out - E)^2 )
  + 5e-4 * ||E_outlier||_2, or the inlier hinge alone when the batch has no outlier pixel;
  plus 3e-6 * sum of squared differences of E between vertical and horizontal neighbours / 2
  over the whole map (m_in = -12, m_out = -6).

The test-time score is the smoothed energy (the project's ``PEBAL`` mode). An empty pixel
set gives 0 for its term (PEBAL: NaN).
"""
from mmseg.registry import MODELS
from torch import Tensor
from torch.nn import functional as F

from ...utils.labels import IGNORE_INDEX, OUTLIER_INDEX
from ..utils.numerics import masked_mean
from ..utils.scores import anomaly_score
from ..utils.smoothing import gaussian_blur
from .outlier_loss import OutlierLoss


def _energy(scores: Tensor, num_classes: int) -> Tensor:
    """(B, >= K, H, W) -> (B, H, W) energy of the first K channels."""
    return anomaly_score(scores[:, :num_classes], mode='Energy')[:, 0]


def neighbour_smoothness(maps: Tensor) -> Tensor:
    """Sum of squared differences between vertical and between horizontal neighbours of the
    (B, H, W) maps, halved (PEBAL ``smooth``: its edge-replicated shift adds zeros)."""
    vertical = (maps[:, 1:, :] - maps[:, :-1, :]).pow(2).sum()
    horizontal = (maps[:, :, 1:] - maps[:, :, :-1]).pow(2).sum()
    return (vertical + horizontal) / 2


@MODELS.register_module()
class PEBALEnergyLoss(OutlierLoss):
    """PEBAL's energy regulariser: hinges, outlier sparsity and smoothness of the energy.

    Args:
        num_classes: K; the energy is taken over channels [0, K) (a (K + 1)-th abstention
            channel is ignored).
        inlier_margin: m_in (-12.0), outlier_margin: m_out (-6.0).
        sparsity_weight: factor of the L2 norm of the outlier energies (5e-4).
        smoothness_weight: factor of the neighbour smoothness of the energy map (3e-6).
        loss_weight: 0.1 as PEBAL's trainer. Other args: see :class:`OutlierLoss`.
    """

    def __init__(self, *, num_classes: int = 19, inlier_margin: float = -12.0,
                 outlier_margin: float = -6.0, sparsity_weight: float = 5e-4,
                 smoothness_weight: float = 3e-6, outlier_index: int = OUTLIER_INDEX,
                 ignore_index: int = IGNORE_INDEX, loss_weight: float = 0.1,
                 loss_name: str = 'loss_energy') -> None:
        super().__init__(outlier_index=outlier_index, ignore_index=ignore_index,
                         loss_weight=loss_weight, loss_name=loss_name)
        self.num_classes = num_classes
        self.inlier_margin = inlier_margin
        self.outlier_margin = outlier_margin
        self.sparsity_weight = sparsity_weight
        self.smoothness_weight = smoothness_weight

    def outlier_loss(self, scores: Tensor, label: Tensor, *, inlier: Tensor,
                     outlier: Tensor) -> Tensor:
        if scores.shape[1] < self.num_classes:
            raise ValueError(f'PEBALEnergyLoss needs >= {self.num_classes} channels, got '
                             f'{scores.shape[1]}')
        energy = _energy(scores, self.num_classes)  # (B, H, W)
        hinge_in = masked_mean(F.relu(energy - self.inlier_margin) ** 2, inlier)
        hinge_out = masked_mean(F.relu(self.outlier_margin - energy) ** 2, outlier)
        has_outliers = outlier.any().to(energy.dtype)
        # ||E_out||_2; the + (1 - has_outliers) keeps sqrt's gradient finite without outliers
        norm_out = ((energy ** 2 * outlier).sum() + (1 - has_outliers)).sqrt() * has_outliers
        with_outliers = 0.5 * (hinge_in + hinge_out) + self.sparsity_weight * norm_out
        loss = has_outliers * with_outliers + (1 - has_outliers) * hinge_in
        return loss + self.smoothness_weight * neighbour_smoothness(energy)


@MODELS.register_module()
class PEBALAbstentionLoss(OutlierLoss):
    """PEBAL's pixel-wise energy-biased abstention ("gambler") loss on K + 1 channels.

    Args:
        num_classes: K; the head must give K + 1 channels, the last one the abstention.
        outlier_reg: weight of the outlier pixels' term (PEBAL ``ood_reg``, 0.1).
        blur_kernel, blur_sigma: Gaussian smoothing of the reward (7, 1.0).
        Other args: see :class:`OutlierLoss`.
    """

    def __init__(self, *, num_classes: int = 19, outlier_reg: float = 0.1,
                 blur_kernel: int = 7, blur_sigma: float = 1.0, outlier_index: int = OUTLIER_INDEX,
                 ignore_index: int = IGNORE_INDEX, loss_weight: float = 1.0,
                 loss_name: str = 'loss_abstention') -> None:
        super().__init__(outlier_index=outlier_index, ignore_index=ignore_index,
                         loss_weight=loss_weight, loss_name=loss_name)
        self.num_classes = num_classes
        self.outlier_reg = outlier_reg
        self.blur_kernel = blur_kernel
        self.blur_sigma = blur_sigma

    def outlier_loss(self, scores: Tensor, label: Tensor, *, inlier: Tensor,
                     outlier: Tensor) -> Tensor:
        k = self.num_classes
        if scores.shape[1] != k + 1:
            raise ValueError(f'PEBALAbstentionLoss needs K + 1 = {k + 1} channels (the last '
                             f'the abstention), got {scores.shape[1]}: use a head with '
                             'an abstention channel (AbstentionLinearHead)')
        probs = scores.softmax(1)  # (B, K + 1, H, W)
        reward = gaussian_blur(_energy(scores, k) ** 2, kernel_size=self.blur_kernel,
                               sigma=self.blur_sigma)  # (B, H, W), E^2 = logsumexp^2
        reserve = probs[:, k] / reward  # (B, H, W)
        target = label.where(inlier, label.new_zeros(()))  # any class index off the inliers
        p_true = probs[:, :k].gather(1, target.unsqueeze(1))[:, 0]  # (B, H, W)
        log_in = (p_true + reserve).log()  # (B, H, W)
        log_out = (probs[:, :k] + reserve.unsqueeze(1)).clamp(min=1e-7).log()  # (B, K, H, W)
        # PEBAL splits the batch into images with and without pasted outliers
        image_out = outlier.flatten(1).any(1)[:, None, None]  # (B, 1, 1)
        clean = masked_mean(log_in, inlier & ~image_out)
        mixed_in = masked_mean(log_in, inlier & image_out)
        mixed_out = masked_mean(log_out, outlier.unsqueeze(1).expand_as(log_out))
        return -(clean + mixed_in + self.outlier_reg * mixed_out)
