"""The shared WCAG contrast and box arithmetic every detector uses."""

import math

import pytest

from render_service import geometry
from render_service.contrast import contrast_ratio, from_255, over

WHITE, BLACK = (1.0, 1.0, 1.0, 1.0), (0.0, 0.0, 0.0, 1.0)


def test_wcag_contrast_ratios():
    assert contrast_ratio(BLACK, WHITE) == pytest.approx(21.0)
    assert contrast_ratio(WHITE, WHITE) == pytest.approx(1.0)
    assert contrast_ratio(WHITE, BLACK) == contrast_ratio(BLACK, WHITE)
    # #767676 is the lightest grey that passes 4.5:1 on white; #777777 just fails (4.48:1).
    assert contrast_ratio(from_255((0x76, 0x76, 0x76)), WHITE) == pytest.approx(4.54, abs=0.01)
    assert contrast_ratio(from_255((0x77, 0x77, 0x77, 1)), WHITE) == pytest.approx(4.48, abs=0.01)
    # Half-transparent black over white is sRGB grey 0.5: luminance 0.214, ratio 3.98:1.
    assert contrast_ratio((0.0, 0.0, 0.0, 0.5), WHITE) == pytest.approx(3.98, abs=0.01)


def test_compositing():
    assert over((1.0, 0.0, 0.0, 0.5), WHITE) == pytest.approx((1.0, 0.5, 0.5, 1.0))
    assert over((0.2, 0.4, 0.6), (1.0, 1.0, 1.0, 0.0)) == pytest.approx((0.2, 0.4, 0.6, 1.0))
    assert over((1.0, 1.0, 1.0, 0.0), (1.0, 1.0, 1.0, 0.0)) == (0.0, 0.0, 0.0, 0.0)


def test_boxes():
    a, b = (0, 0, 10, 10), (5, 5, 20, 20)
    assert geometry.intersection(a, b) == (5, 5, 10, 10)
    assert geometry.area(geometry.intersection(a, (11, 11, 12, 12))) == 0
    assert geometry.overlaps(a, b) and not geometry.overlaps(a, (10, 0, 20, 10))
    assert geometry.union([a, b]) == (0, 0, 20, 20)
    assert geometry.shrink(a, 1) == (1, 1, 9, 9) and geometry.shrink(a, -1) == (-1, -1, 11, 11)
    assert geometry.contains(geometry.union([a, b]), b) and not geometry.contains(a, b)
    assert geometry.outside((-2, 0, 12, 10), a) == (2, 0, 2, 0)


def test_overlap_depth_of_turned_boxes():
    square = [(0, 0), (10, 0), (10, 10), (0, 10)]
    assert geometry.overlap_depth(square, [(8, 3), (18, 3), (18, 13), (8, 13)]) == 2
    assert geometry.overlap_depth(square, [(12, 0), (20, 0), (20, 10), (12, 10)]) == -2
    # Labels 100 x 12 px turned 35 degrees, side by side: their axis-aligned hulls overlap, but
    # the labels themselves are (spacing x sin 35) apart across, less their 12 px height.
    theta = math.radians(35)
    along, across = (math.cos(theta), -math.sin(theta)), (math.sin(theta), math.cos(theta))

    def label(x):
        corners = ((-50, -6), (50, -6), (50, 6), (-50, 6))
        return [
            (x + a * along[0] + b * across[0], a * along[1] + b * across[1]) for a, b in corners
        ]

    def hull(points):
        xs, ys = zip(*points)
        return (min(xs), min(ys), max(xs), max(ys))

    assert geometry.overlaps(hull(label(0)), hull(label(40)))
    assert geometry.overlap_depth(label(0), label(40)) == pytest.approx(12 - 40 * math.sin(theta))
    assert geometry.overlap_depth(label(0), label(15)) == pytest.approx(12 - 15 * math.sin(theta))
