"""Synthetic label patches and their true-colour images (devdata/synthetic.py)."""

import numpy as np

from captions.devdata.synthetic import smooth_noise, synthetic_patch
from captions.landcover import CODES, NODATA, landcover_stats


def patches(count: int, seed: int = 0):
    return [synthetic_patch(np.random.default_rng([seed, n])) for n in range(count)]


def test_the_same_generator_state_gives_the_same_arrays():
    first = synthetic_patch(np.random.default_rng(5))
    again = synthetic_patch(np.random.default_rng(5))
    assert np.array_equal(first.codes, again.codes)
    assert np.array_equal(first.rgb, again.rgb)
    other = synthetic_patch(np.random.default_rng(6))
    assert not np.array_equal(first.codes, other.codes)


def test_labels_hold_only_worldcover_classes_and_at_most_40_percent_nodata():
    for patch in patches(60):
        assert patch.codes.shape == (256, 256)
        assert patch.codes.dtype == np.uint8
        assert set(np.unique(patch.codes).tolist()) <= {NODATA, *CODES}
        assert np.count_nonzero(patch.codes == NODATA) / patch.codes.size <= 0.4
        landcover_stats(patch.codes)  # raises on anything that is not a class


def test_patches_vary_like_a_land_cover_map_does():
    made = patches(60)
    classes_per_patch = [len(landcover_stats(p.codes)["overall"]) for p in made]
    assert min(classes_per_patch) == 1
    assert max(classes_per_patch) >= 4
    present = set().union(*(np.unique(p.codes).tolist() for p in made))
    assert {10, 30, 40, 50, 80} <= present  # trees, grass, crops, built-up, water
    assert any(np.count_nonzero(p.codes == NODATA) for p in made)


def test_the_image_is_black_exactly_where_the_map_has_no_data():
    patch = next(p for p in patches(60) if np.count_nonzero(p.codes == NODATA))
    nodata = patch.codes == NODATA
    assert patch.rgb.shape == (256, 256, 3)
    assert patch.rgb.dtype == np.uint8
    assert not patch.rgb[nodata].any()
    assert patch.rgb[~nodata].mean() > 10


def test_water_is_darker_than_bare_land_in_the_image():
    made = patches(200)
    water = np.concatenate([p.rgb[p.codes == 80] for p in made])
    bare = np.concatenate([p.rgb[p.codes == 60] for p in made])
    assert water.mean() + 60 < bare.mean()


def test_smooth_noise_varies_slowly_between_neighbouring_pixels():
    noise = smooth_noise(np.random.default_rng(1), 256, 32)
    assert noise.shape == (256, 256)
    neighbour_step = np.abs(np.diff(noise, axis=1)).mean()
    assert neighbour_step < 0.1 * noise.std()
