"""The ViT encoder of SeqTrack, assembled from timm building blocks (original: ``lib/models/seqtrack/vit.py``).

Templates and the search image share one patch embedding and one learnable positional table of
``Ns + Nt`` rows: the first ``Ns`` rows go to the search tokens, the last ``Nt`` rows to every template.
The tokens ``[search, template 1, template 2, ...]`` run jointly through pre-norm blocks and a final norm.
Parameter names equal timm's ViT names (``patch_embed.proj``, ``pos_embed``, ``blocks.N.*``, ``norm``), so
MAE / timm checkpoints map onto this module one to one apart from the positional table.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import torch
from timm.layers import PatchEmbed, trunc_normal_
from timm.models.vision_transformer import Block, init_weights_vit_timm
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from seqtrack_accel.config import VIT_SIZES


@dataclass(frozen=True)
class EncoderConfig:
    """Args:
    size: a key of ``VIT_SIZES``.
    search_size: search crop side in pixels (square, a multiple of ``patch_size``).
    template_size: template crop side in pixels.
    num_templates: templates per sample.
    patch_size: ViT patch side in pixels.
    drop_path: stochastic depth rate of the last block (linear from 0 over the blocks, as timm).
    activation_checkpointing: recompute each block in the backward pass while training (less memory).
    """

    size: str = "base"
    search_size: int = 256
    template_size: int = 256
    num_templates: int = 2
    patch_size: int = 16
    drop_path: float = 0.0
    activation_checkpointing: bool = False

    @property
    def search_grid(self) -> int:
        return self.search_size // self.patch_size

    @property
    def template_grid(self) -> int:
        return self.template_size // self.patch_size

    @property
    def num_search_tokens(self) -> int:
        return self.search_grid**2

    @property
    def num_template_tokens(self) -> int:
        """Tokens of ONE template."""
        return self.template_grid**2


class Encoder(nn.Module):
    """Joint ViT over the search image and the templates."""

    def __init__(self, config: EncoderConfig):
        super().__init__()
        self.config = config
        size = VIT_SIZES[config.size]
        self.width = size.width
        # img_size=None: templates and the search image have different sizes; the shapes are checked in forward.
        self.patch_embed = PatchEmbed(img_size=None, patch_size=config.patch_size, in_chans=3, embed_dim=size.width)
        self.pos_embed = nn.Parameter(torch.zeros(1, config.num_search_tokens + config.num_template_tokens, size.width))
        # Linear in depth from 0 to drop_path, as timm's VisionTransformer (plain floats: works on the meta device).
        drop_path = [config.drop_path * i / max(size.depth - 1, 1) for i in range(size.depth)]
        norm_layer = partial(nn.LayerNorm, eps=1e-6)
        self.blocks = nn.ModuleList(
            Block(size.width, size.heads, mlp_ratio=4.0, qkv_bias=True, drop_path=rate, norm_layer=norm_layer)
            for rate in drop_path
        )
        self.norm = norm_layer(size.width)
        trunc_normal_(self.pos_embed, std=0.02)
        self.apply(init_weights_vit_timm)

    def forward(self, template_images: Tensor, search_images: Tensor) -> Tensor:
        """Encode one frame triple per sample.

        Args:
            template_images: (B, T, 3, Hz, Wz) normalised template crops, ``Hz = Wz = template_size``.
            search_images: (B, 3, Hx, Wx) normalised search crops, ``Hx = Wx = search_size``.

        Returns:
            (B, Ns + T * Nt, width) tokens in the order ``[search, template 1, ..., template T]``.
        """
        cfg = self.config
        b, t = template_images.shape[:2]
        expected_z = (b, cfg.num_templates, 3, cfg.template_size, cfg.template_size)
        expected_x = (b, 3, cfg.search_size, cfg.search_size)
        if tuple(template_images.shape) != expected_z or tuple(search_images.shape) != expected_x:
            raise ValueError(
                f"encoder expects templates {expected_z} and search {expected_x} (from the model config), got "
                f"{tuple(template_images.shape)} and {tuple(search_images.shape)}; build the model with the "
                "crop sizes and template number the data uses"
            )
        ns = cfg.num_search_tokens
        x = self.patch_embed(search_images) + self.pos_embed[:, :ns]  # (B, Ns, C)
        z = self.patch_embed(template_images.flatten(0, 1)) + self.pos_embed[:, ns:]  # (B*T, Nt, C)
        tokens = torch.cat([x, z.reshape(b, t * cfg.num_template_tokens, self.width)], dim=1)
        for block in self.blocks:
            if cfg.activation_checkpointing and self.training and torch.is_grad_enabled():
                tokens = checkpoint(block, tokens, use_reentrant=False)
            else:
                tokens = block(tokens)
        return self.norm(tokens)
