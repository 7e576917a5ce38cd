"""Small hand-built attention models (no torchvision/timm): a ViT-style block on nn.MultiheadAttention,
swin-style window attention written by hand, and F.scaled_dot_product_attention."""
import torch
import torch.nn.functional as F
from torch import nn


class MLP(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(dim, 2 * dim), nn.Linear(2 * dim, dim)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class EncoderBlock(nn.Module):
    """LayerNorm + nn.MultiheadAttention + LayerNorm + MLP, residuals around both."""

    def __init__(self, dim: int, heads: int, bias: bool = True):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True, bias=bias)
        self.mlp = MLP(dim)

    def forward(self, x):
        h = self.norm1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.norm2(x))


class TinyViT(nn.Module):
    """Patch-embed conv (stride = patch), ``depth`` encoder blocks, mean-pooled Linear head.
    Tokens T = (img / patch)^2, width E = dim; ``attn_bias`` False: projections without bias (nothing but
    the module scope names them in an ONNX file)."""

    def __init__(self, dim=32, heads=4, patch=4, depth=2, classes=10, attn_bias=True):
        super().__init__()
        self.patch = nn.Conv2d(3, dim, patch, stride=patch)
        self.blocks = nn.Sequential(*[EncoderBlock(dim, heads, attn_bias) for _ in range(depth)])
        self.head = nn.Linear(dim, classes)

    def forward(self, x):
        x = self.patch(x).flatten(2).transpose(1, 2)
        return self.head(self.blocks(x).mean(1))


class WindowAttention(nn.Module):
    """Swin-style: the (B, H, W, C) map cut into w x w windows folded into the batch dimension, a qkv Linear
    and a proj Linear on (B * windows, w*w, C), q @ k^T and attn @ v written out by hand."""

    def __init__(self, dim=16, heads=2, window=2):
        super().__init__()
        self.heads, self.window = heads, window
        self.qkv, self.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)

    def forward(self, x):
        b, h, w, c = x.shape
        s = self.window
        x = x.view(b, h // s, s, w // s, s, c).permute(0, 1, 3, 2, 4, 5).reshape(-1, s * s, c)
        qkv = self.qkv(x).reshape(x.shape[0], s * s, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = (q * (c // self.heads) ** -0.5) @ k.transpose(-2, -1)
        out = (attn.softmax(-1) @ v).transpose(1, 2).reshape(x.shape[0], s * s, c)
        return self.proj(out)


class TinySwin(nn.Module):
    def __init__(self, dim=16, heads=2, window=2, patch=2):
        super().__init__()
        self.patch = nn.Conv2d(3, dim, patch, stride=patch)
        self.attn = WindowAttention(dim, heads, window)
        self.head = nn.Linear(dim, 5)

    def forward(self, x):
        x = self.patch(x).permute(0, 2, 3, 1)
        return self.head(self.attn(x).mean(1))              # one row per window: the head runs on each


class SdpaAttention(nn.Module):
    """One Linear to q, k, v and F.scaled_dot_product_attention over ``heads`` heads."""

    def __init__(self, dim=16, heads=4):
        super().__init__()
        self.heads = heads
        self.qkv, self.out = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)

    def forward(self, x):
        b, t, c = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v)
        return self.out(y.transpose(1, 2).reshape(b, t, c))


def randomized(model: nn.Module, seed: int = 0) -> nn.Module:
    """``model`` in eval mode with every parameter drawn at random: exporters merge equal initializers (two
    fresh LayerNorms), which would make the ONNX file's parameter count differ from the model's."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.1)
    return model.eval()
