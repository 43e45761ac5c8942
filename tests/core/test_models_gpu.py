"""The model on a CUDA GPU: same results as on the CPU, and mixed precision stays sane.

Skipped without CUDA (the `gpu` marker, see conftest.py).
"""

import pytest
import torch

from amf_edge.models import HEADS, build_model

pytestmark = pytest.mark.gpu


@pytest.mark.parametrize("name", ["asymfusion-r18", "asymfusion-r50"])
def test_cuda_matches_cpu(name):
    torch.manual_seed(0)
    model = build_model(name, num_classes=40).eval()
    rgb, depth = torch.randn(2, 3, 96, 128), torch.rand(2, 1, 96, 128) * 2
    with torch.no_grad():
        cpu = model.forward_heads(rgb, depth)
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
        gpu = model.cuda().forward_heads(rgb.cuda(), depth.cuda())
    for head in HEADS:
        assert torch.allclose(gpu[head].cpu(), cpu[head], atol=1e-4, rtol=1e-4), head


def test_autocast_fp16_forward_and_backward():
    model = build_model("asymfusion-r18", num_classes=40).cuda().train()
    rgb, depth = torch.randn(2, 3, 96, 128, device="cuda"), torch.rand(2, 1, 96, 128, device="cuda")
    with torch.autocast("cuda", dtype=torch.float16):
        heads = model.forward_heads(rgb, depth)
        loss = sum(h.float().logsumexp(1).mean() for h in heads.values())
    loss.backward()
    assert torch.isfinite(loss)
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
