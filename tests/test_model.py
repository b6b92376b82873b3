"""The model: shapes, the reparameterization trick, sampling, and the save -> load round trip."""
from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save_file
import torchvision

from conftest import tiny_config
from vae.model import LOGVAR_MAX, LOGVAR_MIN, VAE, Posterior, imagenet_resnet18_state
from vae.store import CheckpointError


@pytest.mark.parametrize("cfg", [tiny_config(), tiny_config(latent_dim=2), tiny_config(likelihood="bernoulli", latent_dim=7)])
def test_shapes_and_ranges(cfg):
    torch.manual_seed(0)
    model = VAE(cfg).eval()
    x = torch.rand(5, 1, 28, 28)
    mu, logvar = model.encode(x)
    assert mu.shape == logvar.shape == (5, cfg.latent_dim)
    assert (logvar >= LOGVAR_MIN).all() and (logvar <= LOGVAR_MAX).all()
    eps = torch.randn(5, cfg.latent_dim)
    out = model(x, eps=eps)
    recon = model.decode(out.z)
    assert out.logits.shape == recon.shape == (5, 1, 28, 28)
    assert 0 <= recon.min() and recon.max() <= 1
    # the forward decodes z = mu + sigma * eps; with eps = 0 it is the deterministic path, decoding mu itself
    assert torch.allclose(out.z, mu + torch.exp(0.5 * logvar) * eps) and torch.equal(out.posterior.mode(), out.mu)
    assert torch.allclose(model(x, eps=torch.zeros_like(eps)).logits, model.decoder.logits(mu))


def test_default_model_is_the_articles():
    model = VAE()
    assert model.config.latent_dim == 128
    assert model.encoder.backbone.conv1.in_channels == 1
    assert model.encoder.backbone.conv1.kernel_size == (7, 7) and model.encoder.backbone.conv1.stride == (2, 2)
    assert model.encoder.head[0].in_features == 512 and model.encoder.head[0].out_features == 1024
    assert model.encoder.head[-1].out_features == 256  # 2D, chunked into mu and logvar
    assert isinstance(model.decoder.fc, torch.nn.Linear)
    assert sum(isinstance(m, torch.nn.Upsample) for m in model.decoder.modules()) == 2


def test_reparameterize_is_differentiable_and_seeded():
    mu = torch.zeros(3, 4, requires_grad=True)
    logvar = torch.zeros(3, 4, requires_grad=True)
    z = Posterior(mu, logvar).sample(torch.Generator().manual_seed(1))
    z.sum().backward()
    assert mu.grad is not None and logvar.grad is not None and logvar.grad.abs().sum() > 0
    z2 = Posterior(mu, logvar).sample(torch.Generator().manual_seed(1))
    assert torch.equal(z, z2)
    # sigma scales the noise: logvar = log(4) doubles it
    z4 = Posterior(mu, torch.full((3, 4), float(torch.log(torch.tensor(4.0))))).sample(torch.Generator().manual_seed(1))
    assert torch.allclose(z4, 2 * z)


def test_training_mode_samples_and_sample_is_reproducible():
    torch.manual_seed(0)
    model = VAE(tiny_config())
    x = torch.rand(2, 1, 28, 28)
    model.train()
    a = model(x, generator=torch.Generator().manual_seed(0)).logits
    b = model(x, generator=torch.Generator().manual_seed(1)).logits
    assert not torch.allclose(a, b)
    model.eval()
    s1 = model.sample(4, torch.Generator().manual_seed(3))
    s2 = model.sample(4, torch.Generator().manual_seed(3))
    assert s1.shape == (4, 1, 28, 28) and torch.equal(s1, s2)


@pytest.mark.parametrize("cfg", [tiny_config(), tiny_config(latent_dim=2, sigma=0.3, beta=4.0)])
def test_save_load_round_trip(tmp_path, cfg):
    torch.manual_seed(0)
    model = VAE(cfg)
    model.train()
    model(torch.rand(8, 1, 28, 28))  # move the BatchNorm running statistics away from their init
    model.save_pretrained(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "model.safetensors"]
    loaded = VAE.from_pretrained(tmp_path)
    assert loaded.config == cfg
    a, b = model.state_dict(), loaded.state_dict()
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert not loaded.training


def _saved(tmp_path):
    VAE(tiny_config()).save_pretrained(tmp_path)
    return tmp_path


@pytest.mark.parametrize(
    "damage, words",
    [
        (lambda d: (d / "model.safetensors").write_bytes((d / "model.safetensors").read_bytes()[:1000]), "safetensors"),
        (lambda d: (d / "model.safetensors").write_bytes(bytes(range(256)) * 40), "safetensors"),
        (lambda d: (d / "model.safetensors").unlink(), "no model.safetensors"),
        (lambda d: (d / "config.json").write_text("{not json"), "not valid JSON"),
        (lambda d: (d / "config.json").unlink(), "missing"),
        (lambda d: (d / "config.json").write_text(json.dumps({**tiny_config().to_dict(), "latent_dim": 9})), "does not fit"),
        (lambda d: (d / "config.json").write_text(json.dumps({"layers": 3})), "not a VAE config"),
        (lambda d: (d / "config.json").write_text("[1, 2]"), "JSON object"),
    ],
)
def test_broken_checkpoints_raise_one_readable_error(tmp_path, damage, words):
    damage(_saved(tmp_path))
    with pytest.raises(CheckpointError, match=words):
        VAE.from_pretrained(tmp_path)


def test_a_pickle_posing_as_a_checkpoint_is_refused_without_running(tmp_path):
    import pickle

    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    _saved(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(pickle.dumps({"weights": Evil()}))
    with pytest.raises(CheckpointError):
        VAE.from_pretrained(tmp_path)
    assert not marker.exists()


def test_missing_folder(tmp_path):
    with pytest.raises(CheckpointError, match="not a folder"):
        VAE.from_pretrained(tmp_path / "nope")


# --- ImageNet weights through torchvision's weights API ----------------------------

def test_imagenet_weights_from_torch_home(tmp_path, monkeypatch):
    """A weights file where torch looks for it (TORCH_HOME) is used, conv1's RGB kernels summed into one."""
    import torchvision
    from torchvision.models import ResNet18_Weights

    torch.manual_seed(123)
    fake = torchvision.models.resnet18(weights=None).state_dict()
    checkpoints = tmp_path / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    torch.save(fake, checkpoints / ResNet18_Weights.IMAGENET1K_V1.url.rsplit("/", 1)[1])
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "download_url_to_file", _no_network)

    model = VAE(tiny_config(pretrained=True), load_imagenet=True)
    assert model.pretrained_loaded is True
    bb = model.encoder.backbone.state_dict()
    assert torch.allclose(bb["conv1.weight"], fake["conv1.weight"].sum(dim=1, keepdim=True))
    for k in ("layer1.0.conv1.weight", "layer4.1.bn2.running_var", "bn1.bias", "layer3.0.downsample.0.weight"):
        assert torch.equal(bb[k], fake[k]), k
    assert torch.equal(bb["layer4.0.conv1.weight"], fake["layer4.0.conv1.weight"][:, :, 1:, 1:])  # the live taps
    assert torch.equal(bb["layer4.1.conv2.weight"], fake["layer4.1.conv2.weight"][:, :, 1:2, 1:2])


def _no_network(*args, **kwargs):
    from urllib.error import URLError

    raise URLError("no network in this test")


def test_offline_falls_back_to_random_init_and_records_it(tmp_path, monkeypatch, caplog):
    import vae.model as m

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "download_url_to_file", _no_network)
    monkeypatch.setattr(m, "_warned_offline", False)
    with caplog.at_level("WARNING", logger="vae"):
        model = VAE(tiny_config(pretrained=True), load_imagenet=True)
        VAE(tiny_config(pretrained=True), load_imagenet=True)
    assert model.pretrained_loaded is False  # train writes it into metrics.json (tests/test_train.py)
    warnings = [r for r in caplog.records if "ImageNet" in r.getMessage()]
    assert len(warnings) == 1  # said once, not per model
    model.save_pretrained(tmp_path / "ckpt")
    assert "pretrained_loaded" not in json.loads((tmp_path / "ckpt" / "config.json").read_text())  # asked, not happened
    assert imagenet_resnet18_state() is None


_LIVE = {2: (slice(None), slice(None), slice(1, 3), slice(1, 3)), 1: (slice(None), slice(None), slice(1, 2), slice(1, 2))}


def _full_last_stage(encoder):
    """A copy of `encoder` with torchvision's own 3x3 kernels in layer4: the trimmed taps placed, the rest random."""
    import copy

    full = copy.deepcopy(encoder)
    stock = torchvision.models.resnet18(weights=None).layer4
    for block, stock_block in zip(full.backbone.layer4, stock):
        for name in ("conv1", "conv2"):
            trimmed, conv = getattr(block, name), getattr(stock_block, name)
            conv.weight.data[_LIVE[trimmed.kernel_size[0]]] = trimmed.weight.data
            setattr(block, name, conv)
    return full


def test_trimmed_last_stage_equals_resnet18_on_28x28_digits():
    """On 28x28 inputs layer4 maps 2x2 to 1x1: the kept taps must give the full ResNet-18's outputs and gradients."""
    torch.manual_seed(0)
    model = VAE(tiny_config())
    trimmed = model.encoder
    full = _full_last_stage(trimmed)
    kernels = [getattr(b, n).kernel_size for b in trimmed.backbone.layer4 for n in ("conv1", "conv2")]
    assert kernels == [(2, 2), (1, 1), (1, 1), (1, 1)]
    x = torch.rand(6, 1, 28, 28)
    for net in (trimmed, full):
        net.train()
        mu, logvar = net(x)
        (mu.pow(2).sum() + logvar.sum()).backward()
        net.outputs = (mu.detach(), logvar.detach())
    assert torch.allclose(trimmed.outputs[0], full.outputs[0], atol=1e-5) and torch.allclose(trimmed.outputs[1], full.outputs[1], atol=1e-5)
    for (name, p), q in zip(trimmed.named_parameters(), full.parameters()):
        g = q.grad if p.shape == q.shape else q.grad[_LIVE[p.shape[-1]]]
        assert torch.allclose(p.grad, g, atol=1e-4), name
        if p.shape != q.shape:  # the taps that were cut only ever meet zero padding: no gradient
            assert float(q.grad.abs().sum()) == pytest.approx(float(g.abs().sum()), rel=1e-5), name
    with pytest.raises(ValueError, match="28x28"):
        trimmed(torch.rand(1, 1, 56, 56))


def test_a_checkpoint_with_full_3x3_kernels_still_loads(tmp_path):
    """Checkpoints saved before the last stage was trimmed hold full kernels; they load to the same model."""
    torch.manual_seed(0)
    model = VAE(tiny_config()).eval()
    model.save_pretrained(tmp_path / "new")
    full = _full_last_stage(model.encoder)
    old = {f"encoder.{k}": v for k, v in full.state_dict().items()} | {f"decoder.{k}": v for k, v in model.decoder.state_dict().items()}
    (tmp_path / "old").mkdir()
    save_file({k: v.contiguous() for k, v in old.items()}, str(tmp_path / "old" / "model.safetensors"))
    (tmp_path / "old" / "config.json").write_text((tmp_path / "new" / "config.json").read_text())
    loaded = VAE.from_pretrained(tmp_path / "old")
    x = torch.rand(3, 1, 28, 28)
    assert torch.allclose(loaded.encode(x)[0], model.encode(x)[0], atol=1e-6)


def test_offline_imagenet_lookup_says_one_line_once(tmp_path, monkeypatch, capsys, caplog):
    """torch.hub prints 'Downloading: ...' before every attempt; offline, every preset would repeat it."""
    from urllib.error import URLError

    import vae.model as m

    def offline(*args, **kwargs):
        raise URLError("no network")

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr("torch.hub.download_url_to_file", offline)
    monkeypatch.setattr(m, "_warned_offline", False)
    assert m.imagenet_resnet18_state() is None and m.imagenet_resnet18_state() is None
    out = capsys.readouterr()
    assert "Downloading" not in out.out + out.err
    assert [r.getMessage() for r in caplog.records if "ImageNet" in r.getMessage()] == [caplog.records[-1].getMessage()]
