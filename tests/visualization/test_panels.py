"""mmseg_uem.visualization: the titled panels, the colour scale, the overlay, the legend."""
import matplotlib
import numpy as np
import pytest

from mmseg_uem.visualization import (
    GAP,
    draw_anomaly_panels,
    flagged_overlay,
    heat_map,
    resolve_score_range,
    title_height,
)
from mmseg_uem.visualization.panels import FLAG_ALPHA, FLAG_COLOUR, GT_COLOURS, _pad, text_scale

H, W = 40, 60
PALETTE = [(10, 20, 30), (200, 100, 50), (0, 255, 0)]
CLASSES = ['a', 'b', 'c']


def _inputs():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (H, W, 3)).astype(np.uint8)
    scores = np.linspace(-2.0, 6.0, H * W, dtype=np.float32).reshape(H, W)
    pred = np.zeros((H, W), np.int64)
    pred[:, W // 3:] = 1  # class 1 is the largest
    pred[:5, :5] = 2
    return image, scores, pred


def _rgb(cmap, value):
    return np.round(np.asarray(matplotlib.colormaps[cmap](value)[:3]) * 255)


def test_heat_map_ends_and_fixed_range_clips():
    scores = np.array([[-2.0, 6.0, 100.0, np.nan]], np.float32)
    own = heat_map(scores[:, :2], cmap='viridis')
    np.testing.assert_array_equal(own[0, 0], _rgb('viridis', 0.0))
    np.testing.assert_array_equal(own[0, 1], _rgb('viridis', 1.0))
    fixed = heat_map(scores, cmap='viridis', score_range=(-2, 10))
    np.testing.assert_array_equal(fixed[0, 1], _rgb('viridis', 8 / 12))
    np.testing.assert_array_equal(fixed[0, 2], _rgb('viridis', 1.0))  # clipped
    np.testing.assert_array_equal(fixed[0, 3], _rgb('viridis', 0.0))  # nan -> low end


def test_shared_score_range_gives_equal_colours_across_images():
    a = np.array([[0.0, 1.0]], np.float32)
    b = np.array([[0.0, 4.0]], np.float32)
    assert not np.array_equal(heat_map(a)[0, 1], heat_map(b)[0, 0])
    shared = (0.0, 4.0)
    np.testing.assert_array_equal(heat_map(a, score_range=shared)[0, 0],
                                  heat_map(b, score_range=shared)[0, 0])
    assert not np.array_equal(heat_map(a, score_range=shared)[0, 1],
                              heat_map(b, score_range=shared)[0, 1])


def test_resolve_score_range():
    assert resolve_score_range(np.array([1.0, np.inf, 3.0])) == (1.0, 3.0)
    assert resolve_score_range(np.array([2.0, 2.0])) == (1.5, 2.5)
    assert resolve_score_range(np.array([np.nan])) == (0.0, 1.0)
    for bad in [(1, 1), (2, 1), (0, np.inf)]:
        with pytest.raises(ValueError, match='low < high'):
            resolve_score_range(np.zeros(1), bad)


def test_flagged_overlay_blends_exactly_the_pixels_at_or_above_the_threshold():
    image, scores, _ = _inputs()
    out = flagged_overlay(image, scores, 2.0)
    mask = scores >= 2.0
    np.testing.assert_array_equal(out[~mask], image[~mask])
    expected = np.round(FLAG_ALPHA * np.asarray(FLAG_COLOUR) + (1 - FLAG_ALPHA) * image[mask])
    np.testing.assert_array_equal(out[mask], expected)


def test_panels_layout_titles_legend_and_colour_bar():
    image, scores, pred = _inputs()
    gt = np.zeros((H, W), np.uint8)
    gt[-4:] = 1
    gt[:, :2] = 255
    canvas = draw_anomaly_panels(image, scores, pred=pred, gt=gt, threshold=2.0,
                                 classes=CLASSES, palette=PALETTE, cmap='viridis',
                                 score_range=(-2, 6))
    top = title_height(H)
    assert canvas.shape[0] == top + H and canvas.dtype == np.uint8
    # panel bodies sit under the title strip, separated by white gaps
    np.testing.assert_array_equal(canvas[top:, :W], image)
    assert (canvas[:, W:W + GAP] == 255).all()
    x = W + GAP
    body = canvas[top:, x:x + W]
    np.testing.assert_array_equal(body[10, -1], PALETTE[1])
    np.testing.assert_array_equal(body[0, 0], PALETTE[2])
    # the legend right of the prediction lists the classes by area: 1, 0, 2
    pad = _pad(text_scale(H))
    column = [tuple(c) for c in canvas[top:, x + W + pad + 2]]
    swatches = [c for k, c in enumerate(column) if c in PALETTE and c != column[k - 1]]
    assert swatches == [PALETTE[1], PALETTE[0], PALETTE[2]]
    # every panel has a title: dark text pixels in the strip above its body
    assert (canvas[:top, :W] < 128).any() and (canvas[:top, x:x + W] < 128).any()
    # the last panel is the overlay, the one before it the heat map plus colour bar
    overlay = canvas[top:, -W:]
    np.testing.assert_array_equal(overlay, flagged_overlay(image, scores, 2.0))
    # the ground-truth panel's colours appear (anomaly white rows, void black columns)
    for colour in GT_COLOURS:
        assert ((canvas[top:] == colour).all(-1)).any()


def test_optional_panels_and_width():
    image, scores, pred = _inputs()
    plain = draw_anomaly_panels(image, scores)
    with_pred = draw_anomaly_panels(image, scores, pred=pred, classes=CLASSES, palette=PALETTE)
    with_thr = draw_anomaly_panels(image, scores, threshold=0.0)
    assert plain.shape[1] > 2 * W + GAP  # input + heat map + colour bar
    assert with_pred.shape[1] > plain.shape[1] + W + GAP
    assert with_thr.shape[1] == plain.shape[1] + GAP + W
    # an image of another size is resized to the score map
    small = draw_anomaly_panels(image[::2, ::2], scores)
    assert small.shape == plain.shape


def test_bad_inputs():
    image, scores, _ = _inputs()
    with pytest.raises(ValueError, match=r'\(H, W\)'):
        draw_anomaly_panels(image, scores[None, None])
    with pytest.raises(ValueError, match='RGB'):
        draw_anomaly_panels(image[..., :2], scores)
    with pytest.raises(KeyError, match='colour map'):
        draw_anomaly_panels(image, scores, cmap='nope')


@pytest.mark.parametrize('threshold', [None, 1.0])
@pytest.mark.parametrize('gt', [False, True])
def test_panel_titles_are_the_panels_drawn(monkeypatch, gt, threshold):
    """What a tool announces (``panel_titles``, e.g. the demo's 'input | prediction | ground
    truth | anomaly score (LLR)') is what the picture shows, panel for panel."""
    from mmseg_uem.visualization import panel_titles, panels

    drawn = []
    real = panels._titled
    monkeypatch.setattr(panels, '_titled',
                        lambda title, body, scale: drawn.append(title) or real(title, body,
                                                                                scale))
    image, scores, pred = _inputs()
    labels = np.zeros((H, W), np.int64) if gt else None
    draw_anomaly_panels(image, scores, pred=pred, gt=labels, threshold=threshold,
                        score_name='LLR', threshold_name='TPR 95%')
    assert drawn == panel_titles(pred=True, gt=gt, threshold=threshold, score_name='LLR',
                                 threshold_name='TPR 95%')
    assert len(drawn) == 3 + gt + (threshold is not None)


@pytest.mark.parametrize('height', [40, 120, 400])
def test_threshold_label_never_overlaps_a_range_label(height):
    """The threshold's label replaces a range label closer than a text line to it (it was
    drawn over the middle tick's label, e.g. threshold 2.1 on a 0..4 bar)."""
    from mmseg_uem.visualization.panels import colour_bar_labels

    gap = 12
    top, bottom = 6, height - 6
    for threshold in np.linspace(0.0, 4.0, 41):
        labels = colour_bar_labels(0.0, 4.0, float(threshold), top=top, bottom=bottom,
                                   gap=gap)
        rows = sorted(y for _, y, _ in labels)
        assert all(b - a >= gap for a, b in zip(rows, rows[1:])), (threshold, labels)
        assert [t for t, _, is_thr in labels if is_thr] == [f'{threshold:.3g}']
    # far from the others, every label stays
    assert len(colour_bar_labels(0.0, 4.0, 1.0, top=top, bottom=400, gap=gap)) == 4
    assert [t for t, _, _ in colour_bar_labels(0.0, 4.0, None, top=0, bottom=100, gap=gap)] \
        == ['4', '2', '0']
