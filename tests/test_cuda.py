"""The CUDA path (``pytest -m cuda``, part of ``make gpu-check``): skipped at once without a CUDA GPU.

Every method on CUDA against the CPU in fp32 (TF32 off, so fp32 means fp32), the reduced
precisions against fp32, bf16 autocast training steps for each trainable method, a one-process
NCCL run of the DDP training path, a folder job and a video on CUDA, and CUDA out-of-memory as one
line. Random weights, tiny images: the whole module runs in well under a minute on one GPU.
"""

from __future__ import annotations

import pytest
import torch

if not torch.cuda.is_available():
    pytest.skip("no CUDA GPU visible to torch", allow_module_level=True)

import math
import socket
from pathlib import Path

from PIL import Image

import reference_aesfa as R
from conftest import make_image, one_line_error, run_cli
from styler.methods import load as load_method
from styler.methods.adain.config import AdaINTrainConfig
from styler.methods.aesfa.config import AesFATrainConfig
from styler.methods.aesfa.method import AesFA
from styler.methods.base import Mix, sample_image
from styler.methods.cin.config import CINTrainConfig
from styler.methods.cin.method import CIN
from styler.methods.gatys.config import GatysConfig
from styler.precision import psnr
from styler.runtime import Runtime, runtime
from styler.training.loop import train
from test_cin import random_net

pytestmark = pytest.mark.cuda
CUDA = torch.device("cuda")
TINY = dict(batch_size=2, crop=32, resize=40, save_every=2, log_every=1, sample_every=0, workers=0)


@pytest.fixture(autouse=True)
def _strict_fp32():
    """cuDNN and matmuls in true fp32 while comparing with the CPU (TF32 would differ by ~1e-3)."""
    before = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = before


def adain_on(weights_dir: Path, device: str, precision: str = "fp32"):
    return load_method(
        "adain",
        vgg=weights_dir / "vgg_normalised.pth",
        decoder=weights_dir / "decoder.pth",
        device=device,
        precision=precision,
    )


@pytest.fixture(scope="module")
def aesfa_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("aesfa") / "main.pth"
    torch.save(R.random_weights(0), path)
    return path


def feed_forward(name: str, device: str, precision: str, weights_dir: Path, aesfa_file: Path):
    """A feed-forward method on ``device`` in ``precision`` (random weights)."""
    if name == "adain":
        return adain_on(weights_dir, device, precision)
    if name == "cin":
        return CIN(random_net(), ["a", "b", "c"], runtime(device, precision))
    return AesFA.load(aesfa_file, runtime(device, precision))


def stylized(method, side: int = 64) -> torch.Tensor:
    """The method's output for a fixed content and style, on the CPU as float32 (1, 3, side, side)."""
    content = sample_image(side, 0).to(method.runtime.device)
    style = "b" if not method.takes_images else sample_image(side, 1).to(method.runtime.device)
    return method.stylize(content, [method.represent(style)], Mix((1.0,)), alpha=1.0).float().cpu()


@pytest.mark.parametrize("name", ["adain", "cin", "aesfa"])
def test_feed_forward_methods_on_cuda_equal_the_cpu(name, weights_dir, aesfa_file):
    cpu = stylized(feed_forward(name, "cpu", "fp32", weights_dir, aesfa_file))
    gpu = stylized(feed_forward(name, "cuda", "fp32", weights_dir, aesfa_file))
    assert gpu.shape == cpu.shape and (gpu - cpu).abs().max() < 1e-3


@pytest.mark.parametrize("name", ["adain", "cin", "aesfa"])
@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_reduced_precisions_on_cuda_stay_close_to_fp32(name, precision, weights_dir, aesfa_file):
    if precision == "bf16" and not torch.cuda.is_bf16_supported(including_emulation=False):
        pytest.skip("this GPU has no native bf16")
    ref = stylized(feed_forward(name, "cuda", "fp32", weights_dir, aesfa_file))
    out = stylized(feed_forward(name, "cuda", precision, weights_dir, aesfa_file))
    assert torch.isfinite(out).all() and psnr(out, ref) >= 30.0


def test_auto_precision_on_cuda_keeps_the_usual_rule(weights_dir):
    from styler.precision import load_method as measured

    method = measured("adain", vgg=weights_dir / "vgg_normalised.pth", device="cuda")
    native = torch.cuda.is_bf16_supported(including_emulation=False)
    assert method.runtime.device.type == "cuda" and method.runtime.precision == ("bf16" if native else "fp16")


def test_gatys_short_run_on_cuda_follows_the_cpu(weights_dir):
    def run(device: str) -> torch.Tensor:
        method = load_method(
            "gatys",
            vgg=weights_dir / "vgg_normalised.pth",
            device=device,
            precision="fp32",
            gatys=GatysConfig(iters=3, optimizer="adam"),
        )
        content, style = sample_image(48, 0).to(device), sample_image(48, 1).to(device)
        return method.stylize(content, [method.represent(style)], Mix((1.0,)), alpha=1.0).float().cpu()

    cpu, gpu = run("cpu"), run("cuda")
    assert gpu.shape == cpu.shape and (gpu - cpu).abs().max() < 1e-2


# -- training -------------------------------------------------------------------------------------


@pytest.fixture
def folders(tmp_path) -> tuple[Path, Path]:
    content, style = tmp_path / "coco", tmp_path / "wikiart"
    for i in range(4):
        make_image(content / f"c{i}.png", (48, 40), i)
        make_image(style / f"s{i}.jpg", (40, 56), 10 + i)
    return content, style


CONFIGS = {"adain": AdaINTrainConfig, "cin": CINTrainConfig, "aesfa": AesFATrainConfig}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_bf16_autocast_training_steps(name, folders, tmp_path):
    if not torch.cuda.is_bf16_supported(including_emulation=False):
        pytest.skip("this GPU has no native bf16")
    losses = []
    cfg = CONFIGS[name](
        content_dir=str(folders[0]),
        style_dir=str(folders[1]),
        out=str(tmp_path / "run"),
        max_iter=3,
        device="cuda",
        precision="bf16",
        **TINY,
    )
    result = train(cfg, on_step=lambda info: losses.append(info.loss))
    assert result.iter == 3 and len(losses) == 3 and all(math.isfinite(x) for x in losses)
    assert result.decoder.is_file()


def test_one_process_nccl_ddp_training(folders, tmp_path, monkeypatch):
    """The DDP path (process group, DistributedDataParallel, the stop agreements) on NCCL: one
    process whose group has one member, the loop told it is one of two so that it wraps the model."""
    import torch.distributed as dist

    import styler.training.loop as loop

    if not dist.is_nccl_available():
        pytest.skip("this torch has no NCCL")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    for k, v in {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "RANK": "0", "WORLD_SIZE": "1"}.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setattr(loop, "dist_env", lambda: (0, 2, 0))
    cfg = AdaINTrainConfig(
        content_dir=str(folders[0]),
        style_dir=str(folders[1]),
        out=str(tmp_path / "run"),
        max_iter=12,  # past STOP_EVERY: one stop agreement over NCCL
        device="cuda",
        **TINY,
    )
    result = train(cfg)
    assert result.iter == 12 and result.decoder.is_file() and not dist.is_initialized()


# -- jobs -----------------------------------------------------------------------------------------


def test_folder_job_on_cuda_equals_the_cpu(tmp_path):
    for i in range(3):
        make_image(tmp_path / "in" / f"c{i}.png", (48, 40), i)
    style = make_image(tmp_path / "style.png", (40, 40), 9)
    for device in ("cpu", "cuda"):
        r = run_cli(
            "transfer", tmp_path / "in", style, "-o", tmp_path / device, "--device", device, "--precision", "fp32"
        )
        assert r.exit_code == 0, r.output
    cpu, gpu = (sorted((tmp_path / d).glob("*.png")) for d in ("cpu", "cuda"))
    assert [p.name for p in cpu] == [p.name for p in gpu] and len(cpu) == 3
    for a, b in zip(cpu, gpu):
        x, y = (torch.tensor(list(Image.open(p).getdata()), dtype=torch.float32) for p in (a, b))
        assert (x - y).abs().max() <= 2  # 8-bit images: at most a rounding step or two apart


def test_video_on_cuda(tmp_path):
    from test_video import decoded, make_clip

    clip = make_clip(tmp_path / "clip.mp4", 6)
    style = make_image(tmp_path / "style.png", (40, 40), 9)
    out = tmp_path / "out.mp4"
    r = run_cli("video", clip, style, "-o", out, "--device", "cuda")
    assert r.exit_code == 0, r.output
    frames = decoded(out)
    assert len(frames) == 6 and frames[0].shape == decoded(clip)[0].shape


def test_cuda_out_of_memory_is_one_line(tmp_path, monkeypatch):
    from styler.methods.adain.method import AdaIN

    def too_big(self, *args, **kwargs):
        return torch.empty(1 << 50, device="cuda")  # a petabyte: the allocator refuses

    monkeypatch.setattr(AdaIN, "encode", too_big)
    content = make_image(tmp_path / "c.png", (48, 40), 1)
    style = make_image(tmp_path / "s.png", (40, 40), 2)
    r = run_cli("transfer", content, style, "-o", tmp_path / "out.png", "--device", "cuda")
    one_line_error(r, "CUDA out of memory", "--tile")
    assert not (tmp_path / "out.png").exists()


def test_runtime_describes_the_gpu():
    rt = Runtime(CUDA, "fp32")
    assert torch.cuda.get_device_name(CUDA) in rt.describe()
