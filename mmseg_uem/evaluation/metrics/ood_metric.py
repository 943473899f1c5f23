"""``OoDMetric``: dataset-pooled pixel AP / FPR95 / AUROC, their image-wise means, SMIYC
component metrics, recall by anomaly size and false alarms on frames without anomalies.

Shape key: H, W label size, P valid pixels.

The maths lives in :mod:`mmseg_uem.evaluation.functional`; this class only validates each data
sample and keeps what ``compute_metrics`` needs, on the CPU:
- exact mode: the scores of valid pixels split by label, float32, 4 bytes per valid pixel;
- histogram mode: a sparse key histogram per image, 12 bytes per occupied bin (at most
  min(valid pixels, 2^bits) bins; LLR maps occupy ~1e4-1e5 of the 2^20 default bins). Images
  are kept apart, not summed on the fly, so that mmengine's collect_results can drop the
  samples a distributed sampler pads, as in exact mode;
- component metrics or size-binned recall requested: the full (H, W) float32 score and uint8
  label maps, because the dataset-level F1-optimal threshold must be known before any
  component is formed;
- image-wise metrics: three floats per image, computed when the image is processed;
- false alarms: per frame without anomalies, its component / pixel counts when the threshold
  is given (``fa_threshold``), else its maps until the run's own threshold is known.
The pixel metrics are order-invariant, and means are taken with ``math.fsum``, so 1 and N
processes give identical numbers.
"""
import logging
from collections import OrderedDict
from typing import Any, Dict, List, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log
from mmseg.registry import METRICS
from prettytable import PrettyTable
from torch import Tensor

from ...utils.labels import IGNORE_INDEX
from ...utils.samples import score_mode_of
from ..functional import (
    COCO_SIZE_BINS,
    COMPONENT_METRICS,
    IMAGE_METRICS,
    OOD_METRICS,
    PIXEL_METRICS,
    SIZE_METRICS,
    ScoreHistogram,
    aggregate_components,
    average_image_metrics,
    best_f1_threshold,
    check_labels,
    check_scores,
    check_size_bins,
    false_alarm_rate,
    frame_false_alarm,
    image_components,
    image_pixel_metrics,
    is_inlier_frame,
    metrics_from_sorted,
    operating_point_from_sorted,
    size_binned_recall,
    sort_scores,
)
from ..functional.histogram import MAX_BITS, MIN_BITS
from ..operating_point import resolve_threshold, save_operating_point

_VOID = 2  # void code of the compact uint8 label maps kept for component metrics


def _score_name(results: List[dict]) -> Optional[str]:
    """The score the predictions named (``pred_anomaly_score``'s metainfo); None if they do
    not say."""
    modes = sorted({str(r.get('score_mode')) for r in results if 'unlabelled' not in r})
    if len(modes) > 1:
        raise ValueError(f'the predictions of one test hold different scores {modes}: their '
                         'pixels cannot be pooled into one metric')
    return modes[0] if modes and modes[0] != 'None' else None


@METRICS.register_module()
class OoDMetric(BaseMetric):
    """Pixel-level (and component-level) anomaly segmentation metrics, in percent.

    Reads ``pred_anomaly_score.data`` (1, H, W) and ``gt_sem_seg.data`` (1, H, W) of each data
    sample; labels must be 0 (inlier), 1 (anomaly) or ``ignore_index`` (void, dropped).

    Args:
        ood_metrics: any of 'AP', 'FPR95', 'AUROC' (pixel, pooled over the dataset);
            'AP-img', 'FPR95-img', 'AUROC-img' (the same per image, averaged over the images
            with anomaly and inlier pixels); 'sIoU', 'PPV', 'mF1' (SMIYC components at the
            F1-optimal pixel threshold); 'recall-small', 'recall-medium', 'recall-large' (GT
            components with sIoU >= 0.5 at that threshold, by size); 'FA-img' (share of the
            frames without anomalies that get a predicted component at ``fa_threshold``;
            'FA-px', their flagged-pixel rate, comes with it). Definitions:
            :mod:`mmseg_uem.evaluation.functional.image_metrics`.
        tpr: recall level of 'FPR95'.
        ignore_index: void label.
        mode: 'exact' (sklearn-identical) or 'histogram' (bounded memory; adds '<m>_lo' and
            '<m>_hi', guaranteed bounds on the exact value).
        bits: key bits B of histogram mode, 8..32 (2^B bins).
        resize_scores: resize score maps bilinearly to the label size; if False a size
            mismatch raises.
        min_pred_size: predicted components under this many pixels are dropped (anomaly
            track 500, obstacle track 50).
        min_gt_size: GT components under this many pixels become void (100 / 10).
        size_bins: (b0, b1) pixel limits of the size bins, small < b0 <= medium < b1 <=
            large; default COCO's (32^2, 96^2).
        fa_threshold: score threshold of 'FA-img': a number, or an operating point file
            (``tools/test.py --threshold``); None = this run's own threshold at ``tpr``
            (needs anomaly pixels in the run, and mode='exact' or component metrics).
        compute_device: where to sort at ``compute_metrics`` ('cpu' or 'cuda').
        bound_warn: warn when the histogram AP bound is wider than this (fraction, 5e-4 =
            0.05 AP points).
        operating_point_file: if set (and 'FPR95' is computed in exact mode or with
            component metrics), write the score threshold at ``tpr`` there as json
            (:mod:`mmseg_uem.evaluation.operating_point`); ``tools/test.py`` sets it.
        collect_device, prefix, collect_dir: see :class:`mmengine.evaluator.BaseMetric`.

    Attributes:
        info (dict): what the last :meth:`compute_metrics` counted, as its log line gives it
            (e.g. ``positives``, ``gt_components``, ``gt_small_medium_large``,
            ``images_with_anomaly_and_inlier``, ``inlier_frames``, ``fa_threshold``);
            ``tools/test.py --out`` writes it to ``run.json``. Empty before the first call
            (and on the ranks > 0 of a multi-process run).
    """

    default_prefix: Optional[str] = 'ood'

    def __init__(self,
                 ood_metrics: Union[str, Sequence[str]] = PIXEL_METRICS,
                 *,
                 tpr: float = 0.95,
                 ignore_index: int = IGNORE_INDEX,
                 mode: str = 'exact',
                 bits: int = 20,
                 resize_scores: bool = False,
                 min_pred_size: int = 500,
                 min_gt_size: int = 100,
                 size_bins: Sequence[int] = COCO_SIZE_BINS,
                 fa_threshold: Union[float, str, None] = None,
                 compute_device: str = 'cpu',
                 bound_warn: float = 5e-4,
                 operating_point_file: Optional[str] = None,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None,
                 collect_dir: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix, collect_dir=collect_dir)
        # Named like IoUMetric's `iou_metrics`: a `metrics` key would make mmengine's Runner
        # treat this config as a custom Evaluator (`'metrics' in evaluator`).
        metrics = (ood_metrics, ) if isinstance(ood_metrics, str) else tuple(ood_metrics)
        unknown = set(metrics) - set(OOD_METRICS)
        if unknown or not metrics:
            raise KeyError(f'unknown metrics {sorted(unknown)}; choose from {OOD_METRICS}')
        if mode not in ('exact', 'histogram'):
            raise ValueError(f"mode must be 'exact' or 'histogram', got {mode!r}")
        if not MIN_BITS <= bits <= MAX_BITS:
            raise ValueError(f'bits must be in [{MIN_BITS}, {MAX_BITS}], got {bits}')
        if not 0.0 < tpr <= 1.0:
            raise ValueError(f'tpr must be in (0, 1], got {tpr}')
        self.metrics = metrics
        self.tpr = tpr
        self.ignore_index = ignore_index
        self.mode = mode
        self.bits = bits
        self.resize_scores = resize_scores
        self.min_pred_size = min_pred_size
        self.min_gt_size = min_gt_size
        self.compute_device = compute_device
        self.bound_warn = bound_warn
        self.operating_point_file = operating_point_file
        self.size_bins = check_size_bins(size_bins)
        self.fa_threshold, self.fa_threshold_name = resolve_threshold(fa_threshold)
        self.keep_maps = any(m in COMPONENT_METRICS + SIZE_METRICS for m in metrics)
        self.image_wise = any(m in IMAGE_METRICS for m in metrics)
        self.false_alarms = 'FA-img' in metrics
        own_threshold = self.false_alarms and self.fa_threshold is None
        if own_threshold and mode == 'histogram' and not self.keep_maps:
            raise ValueError("FA-img at the run's own threshold needs the exact scores: set "
                             "fa_threshold (tools/test.py --threshold) or mode='exact'")
        # the pooled scores are kept for the pixel metrics and the run's own threshold
        self.keep_pooled = any(m in PIXEL_METRICS for m in metrics) or own_threshold
        self.info: Dict[str, Any] = {}

    # ------------------------------------------------------------------ process
    def _read(self, data_sample: dict) -> tuple:
        """Validated (H, W) score and label tensors of one sample, on the model's device."""
        name = str(data_sample.get('img_path', '<unknown image>'))
        if 'pred_anomaly_score' not in data_sample:
            raise KeyError(f'no pred_anomaly_score for {name}: the segmentor must emit it')
        score = data_sample['pred_anomaly_score']['data']
        label = data_sample['gt_sem_seg']['data']
        check_scores(score, name=name)
        if score.shape[-2:] != label.shape[-2:]:
            if not self.resize_scores:
                raise ValueError(f'score map {tuple(score.shape)} and label {tuple(label.shape)} '
                                 f'differ in size for {name}; crop to ori_shape or set '
                                 'resize_scores=True')
            score = F.interpolate(score.reshape(1, 1, *score.shape[-2:]).float(),
                                  size=label.shape[-2:], mode='bilinear', align_corners=False)
        label = label.reshape(label.shape[-2:]).to(score.device)
        check_labels(label, ignore_index=self.ignore_index, name=name)
        return score.reshape(label.shape), label, name

    def process(self, data_batch: Any, data_samples: Sequence[dict]) -> None:
        """Keep, per image, only what :meth:`compute_metrics` needs (see the module doc)."""
        for data_sample in data_samples:
            if 'gt_sem_seg' not in data_sample:
                # named at compute_metrics, all of them at once (collected across ranks)
                self.results.append(dict(unlabelled=str(data_sample.get('img_path', '?'))))
                continue
            score, label, name = self._read(data_sample)
            result = self._per_image(score, label, name)
            # the score the prediction names, for the table and the operating point
            result['score_mode'] = score_mode_of(data_sample)
            if self.keep_maps:
                compact = torch.where(label == 1, 1, torch.where(label == 0, 0, _VOID))
                result.update(score=score.float().cpu(), label=compact.to(torch.uint8).cpu())
            elif self.mode == 'histogram':
                hist = ScoreHistogram.from_scores(score, label, bits=self.bits,
                                                  ignore_index=self.ignore_index, name=name)
                # per-image counts fit int32; so do bins up to 31 bits: 12 B per occupied bin
                small = torch.int32 if self.bits <= 31 else torch.int64
                result.update(bins=hist.bins.to(small).cpu(), pos=hist.pos.to(torch.int32).cpu(),
                              neg=hist.neg.to(torch.int32).cpu())
            elif self.keep_pooled:
                result.update(pos=score[label == 1].float().cpu(),
                              neg=score[label == 0].float().cpu())
            self.results.append(result)

    def _per_image(self, score: Tensor, label: Tensor, name: str) -> dict:
        """What the image-wise and false-alarm metrics keep of one image."""
        result: Dict[str, Any] = {}
        if self.image_wise:
            result['img'] = image_pixel_metrics(score, label, tpr=self.tpr,
                                                ignore_index=self.ignore_index, name=name)
        if self.false_alarms and is_inlier_frame(label, ignore_index=self.ignore_index):
            if self.fa_threshold is not None:
                result['fa'] = frame_false_alarm(score, label, threshold=self.fa_threshold,
                                                 ignore_index=self.ignore_index,
                                                 min_pred_size=self.min_pred_size)
            elif not self.keep_maps:  # the run's threshold is known only at the end
                result['fa_map'] = (score.float().cpu(),
                                    torch.where(label == 0, 0, _VOID).to(torch.uint8).cpu())
            else:
                result['fa_map'] = True  # its maps are kept anyway
        return result

    # ------------------------------------------------------------------ compute
    def _pooled(self, results: List[dict], key: str) -> Tensor:
        """Concatenate one field of all results, releasing each part once copied."""
        total = sum(r[key].numel() for r in results)
        out = torch.empty(total, dtype=torch.float32)
        offset = 0
        for r in results:
            part = r[key].reshape(-1)
            out[offset:offset + part.numel()] = part
            offset += part.numel()
            if not self.keep_maps:
                r[key] = None  # the pooled copy replaces it: peak stays ~1x the state
        return out

    def _sorted_split(self, results: List[dict]) -> tuple:
        if self.keep_maps:
            pos = torch.cat([r['score'][r['label'] == 1] for r in results] + [torch.empty(0)])
            neg = torch.cat([r['score'][r['label'] == 0] for r in results] + [torch.empty(0)])
        else:
            pos, neg = self._pooled(results, 'pos'), self._pooled(results, 'neg')
        if self.compute_device != 'cpu':
            pos, neg = pos.to(self.compute_device), neg.to(self.compute_device)
        return sort_scores(pos, inplace=True), sort_scores(neg, inplace=True)

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """Pool all images and compute the selected metrics (percent).

        Returns:
            ordered dict: the requested metrics in ``self.metrics`` order, then, in histogram
            mode, ``<m>_lo`` / ``<m>_hi`` bounds of each pixel metric.
        """
        unlabelled = [r['unlabelled'] for r in results if 'unlabelled' in r]
        if unlabelled:
            shown = ', '.join(unlabelled[:5]) + (', ...' if len(unlabelled) > 5 else '')
            raise ValueError(
                f'{len(unlabelled)} of {len(results)} images have no labels (gt_sem_seg), so '
                f'OoDMetric cannot score them: {shown}. For predictions only (hidden test '
                'splits), run tools/test.py with --out / --show-dir: it skips the metric.')
        pixel = [m for m in self.metrics if m in PIXEL_METRICS]
        values: Dict[str, float] = {}
        info: Dict[str, Any] = {}
        need_sorted = self.keep_maps or (self.keep_pooled and self.mode == 'exact')
        pos = neg = None
        if need_sorted:
            pos, neg = self._sorted_split(results)
            info.update(positives=pos.numel(), negatives=neg.numel())
        if pixel and self.mode == 'exact':
            values.update(metrics_from_sorted(pos, neg, tpr=self.tpr, metrics=pixel))
        elif pixel:
            values.update(self._histogram_metrics(results, pixel, info))
        score = _score_name(results)
        if self.operating_point_file and 'FPR95' in self.metrics:
            self._save_operating_point(pos, neg, info, score=score)
        if self.keep_maps:
            values.update(self._component_metrics(results, pos, neg, info))
        if self.image_wise:
            image_values, used = average_image_metrics([r['img'] for r in results])
            values.update(image_values)
            info.update(images_with_anomaly_and_inlier=used)
        if self.false_alarms:
            values.update(self._false_alarms(results, pos, neg, info))
        out = OrderedDict((m, 100.0 * values[m]) for m in self.metrics)
        for key in values:
            if key.endswith(('_lo', '_hi')) or key == 'FA-px':
                out[key] = 100.0 * values[key]
        self._log_table(out, info, score=score)
        self.info = {k: v.item() if isinstance(v, Tensor) else v for k, v in info.items()}
        return out

    def _save_operating_point(self, pos: Optional[Tensor], neg: Optional[Tensor],
                              info: Dict[str, Any], *, score: Optional[str]) -> None:
        if pos is None:
            print_log(f'operating point not written to {self.operating_point_file}: it needs '
                      "the exact scores (mode='exact')", logger='current',
                      level=logging.WARNING)
            return
        point = operating_point_from_sorted(pos, neg, tpr=self.tpr)
        save_operating_point(self.operating_point_file, threshold=point['threshold'],
                             tpr=self.tpr, tpr_reached=point['tpr'], fpr=point['fpr'],
                             positives=pos.numel(), negatives=neg.numel(), score=score)
        info.update(threshold_at_tpr=point['threshold'])
        print_log(f'score threshold at TPR {100 * self.tpr:g}%: {point["threshold"]:.6g} '
                  f'(written to {self.operating_point_file})', logger='current')

    def _histogram_metrics(self, results: List[dict], pixel: List[str],
                           info: Dict[str, Any]) -> Dict[str, float]:
        if self.keep_maps:
            hists = [ScoreHistogram.from_scores(r['score'], r['label'], bits=self.bits,
                                                ignore_index=_VOID) for r in results]
        else:
            hists = [ScoreHistogram(r['bins'].long(), r['pos'].long(), r['neg'].long(),
                                    bits=self.bits) for r in results]
        hist = ScoreHistogram.merge(hists) if hists else ScoreHistogram(
            *(torch.zeros(0, dtype=torch.int64), ) * 3, bits=self.bits)
        info.update(positives=hist.num_pos, negatives=hist.num_neg, bins=hist.bins.numel())
        values = hist.metrics(tpr=self.tpr, metrics=pixel)
        width = values.get('AP_hi', 0.0) - values.get('AP_lo', 0.0)
        if width > self.bound_warn:
            print_log(f'histogram AP bound is {100 * width:.3f} points wide (bits={self.bits}); '
                      'raise bits or use mode="exact"', logger='current', level=logging.WARNING)
        return values

    def _component_metrics(self, results: List[dict], pos: Tensor, neg: Tensor,
                           info: Dict[str, Any]) -> Dict[str, float]:
        nan = float('nan')
        if pos.numel() == 0:
            return {m: nan for m in COMPONENT_METRICS + SIZE_METRICS}
        threshold, best_f1 = best_f1_threshold(pos.cpu(), neg.cpu())
        info.update(threshold=threshold, best_pixel_F1=best_f1)
        per_image = [image_components(r['score'], r['label'], threshold=threshold,
                                      ignore_index=_VOID, min_pred_size=self.min_pred_size,
                                      min_gt_size=self.min_gt_size) for r in results]
        info.update(gt_components=sum(p['sIoU'].size for p in per_image),
                    pred_components=sum(p['PPV'].size for p in per_image))
        values = aggregate_components(per_image)
        recall = size_binned_recall([p['gt_size'] for p in per_image],
                                    [p['sIoU'] for p in per_image], bins=self.size_bins)
        if any(m in SIZE_METRICS for m in self.metrics):
            info.update(size_bins=f'<{self.size_bins[0]}|<{self.size_bins[1]}|rest px',
                        gt_small_medium_large='/'.join(
                            str(recall[f'count-{k}']) for k in ('small', 'medium', 'large')))
        values.update({m: recall[m] for m in SIZE_METRICS})
        return values

    def _false_alarms(self, results: List[dict], pos: Optional[Tensor],
                      neg: Optional[Tensor], info: Dict[str, Any]) -> Dict[str, float]:
        """FA-img / FA-px over the frames without anomalies (module doc)."""
        threshold, source = self.fa_threshold, self.fa_threshold_name or 'given'
        if threshold is None:
            if pos is None or pos.numel() == 0:
                print_log("FA-img: the run has no anomaly pixels, so it has no threshold of "
                          'its own; give one (fa_threshold, tools/test.py --threshold X | '
                          'operating_point.json)', logger='current', level=logging.WARNING)
                return {'FA-img': float('nan'), 'FA-px': float('nan')}
            threshold = operating_point_from_sorted(pos.cpu(), neg.cpu(),
                                                    tpr=self.tpr)['threshold']
            source = f'this run at TPR {100 * self.tpr:g}%'
        frames = []
        for r in results:
            if 'fa' in r:
                frames.append(r['fa'])
            elif 'fa_map' in r:
                score, label = (r['score'], r['label']) if r['fa_map'] is True else r['fa_map']
                frames.append(frame_false_alarm(score, label, threshold=threshold,
                                                ignore_index=_VOID,
                                                min_pred_size=self.min_pred_size))
        info.update(inlier_frames=len(frames), fa_threshold=f'{threshold:.6g} ({source})')
        return false_alarm_rate(frames)

    def _log_table(self, values: Dict[str, float], info: Dict[str, Any], *,
                   score: Optional[str]) -> None:
        table = PrettyTable()
        for key, value in values.items():
            table.add_column(key, [f'{value:.2f}'])
        extra = ', '.join(f'{k}={v:.6g}' if isinstance(v, float) else f'{k}={v}'
                          for k, v in info.items())
        table.title = f'score: {score or "not named by the predictions"}'
        print_log(f'OoD metrics of the {score or "(unnamed)"} score ({self.mode}, pooled; '
                  f'{extra}):\n'
                  + table.get_string(),
                  logger='current')


__all__ = ['OoDMetric', 'OOD_METRICS', 'PIXEL_METRICS', 'COMPONENT_METRICS']
