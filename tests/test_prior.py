"""The prior against the codes it should cover (issue 10, view 2): mixture samples, holes on the plane, class Gaussians."""
from __future__ import annotations

import numpy as np

from playground import prior
from vae import analysis as A


def test_holes_are_where_the_prior_has_mass_and_no_code_lives():
    rng = np.random.default_rng(0)
    covering = rng.standard_normal((2000, 2)) * 1.5  # codes spread over the prior's circles: no holes
    angle = rng.uniform(0, 2 * np.pi, 2000)
    ring = np.stack([np.cos(angle), np.sin(angle)], 1) * 6 + rng.standard_normal((2000, 2)) * 0.3  # codes in a ring far out: the middle is a hole
    shares = {}
    for name, xy in (("covering", covering), ("ring", ring)):
        kde = A.codes_density(xy)
        shares[name] = A.prior_holes(kde, A.hole_log_density(kde, xy), np.zeros(2))
    assert shares["covering"] < 0.05 and shares["ring"] > 0.8  # the density is smoothed (Scott): the ring blurs a little inwards


def test_class_gaussians_and_seeded_mixture_samples():
    rng = np.random.default_rng(1)
    xy = np.concatenate([rng.normal([0, 0], 1, (300, 2)), rng.normal([5, 1], [2, 0.5], (300, 2))])
    labels = np.repeat([3, 7], 300)
    g = A.class_gaussians(xy, labels)
    np.testing.assert_allclose(g[7][0], [5, 1], atol=0.3)
    np.testing.assert_allclose(np.diag(g[7][1]), [4, 0.25], rtol=0.25)
    codes = np.concatenate([rng.normal(-3, 0.1, (200, 4)), rng.normal(3, 0.1, (200, 4))])
    mixture = A.fit_code_mixture(codes, n_components=2)
    a, b = A.mixture_samples(mixture, 50, seed=2), A.mixture_samples(mixture, 50, seed=2)
    assert a.shape == (50, 4) and a.dtype == np.float32 and np.array_equal(a, b)
    assert (np.abs(np.abs(a).mean(1) - 3) < 0.5).all()  # every sample near one of the two clusters, none in between


def test_prior_view(tiny_hub):
    ready = tiny_hub.get("healthy")
    train = tiny_hub.train_codes(ready)
    part = prior.model_prior(ready, train, tiny_hub.second_stage(ready, train))
    assert part.prior.shape == part.mixture.shape == (prior.N_SAMPLES, 28, 28)
    assert part.plane.ndim == 3 and 0 <= part.holes <= 1 and part.prior_gap > 0 and part.mixture_gap > 0
    assert "**healthy**" in part.sentence and "holes" in part.sentence
    assert abs(part.split["info"] + part.split["mismatch"] - part.split["kl"]) <= 0.1 * part.split["kl"] + 0.05
    sentences, strip, planes, bars = prior.prior_view({"healthy": part, "again": part})
    assert strip.shape[0] == 6 * (56 + 4) and planes.shape[0] == 2 * part.plane.shape[0] and bars.ndim == 3
