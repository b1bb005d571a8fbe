"""The SeqTrack box decoder: a DETR-style post-norm transformer decoder over four box tokens.

Original: ``lib/models/seqtrack/decoder.py``.

The memory is the bottlenecked search tokens, (B, Ns, hidden). Teacher forcing runs all positions at once under a
causal mask; inference runs one token per step with a ``DecoderCache``: the cross-attention keys/values of the
memory are projected once, and the self-attention keys/values grow by one token per step. Because every layer is
causal, the cached step computes exactly what the full pass computes at that position.

Parameter names follow the original where that helps the importer (``in_proj_weight``/``in_proj_bias``/``out_proj``,
``linear1``/``linear2``, ``norm1..3``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqtrack_accel.model.tokens import SEQUENCE_LENGTH, vocab_size


@dataclass(frozen=True)
class DecoderConfig:
    """Args:
    bins: coordinate tokens; the vocabulary is ``bins + 2`` (END, START).
    memory_len: number of memory tokens Ns (search patches).
    hidden_dim: decoder width.
    layers: decoder layers.
    heads: attention heads.
    ffn_dim: feed-forward width.
    dropout: dropout of the token embedding, attention weights and residual branches.
    """

    bins: int = 4000
    memory_len: int = 256
    hidden_dim: int = 256
    layers: int = 2
    heads: int = 8
    ffn_dim: int = 1024
    dropout: float = 0.1


def sinusoid_table(length: int, dim: int) -> Tensor:
    """1D sinusoid position table (length, dim), float32: ``angle = pos / 10000^(2 * (i // 2) / dim)``,
    sin on even dims, cos on odd dims (the original's ``get_sinusoid_encoding_table``)."""
    position = torch.arange(length, dtype=torch.float64)[:, None]
    exponent = 2 * (torch.arange(dim, dtype=torch.float64) // 2) / dim
    angle = position / torch.pow(10000.0, exponent)
    table = torch.empty_like(angle)
    table[:, 0::2] = torch.sin(angle[:, 0::2])
    table[:, 1::2] = torch.cos(angle[:, 1::2])
    return table.float()


class MultiheadAttention(nn.Module):
    """Multi-head attention with a packed (q, k, v) in-projection, computed with ``F.scaled_dot_product_attention``.

    Same parameters and maths as ``nn.MultiheadAttention`` (``in_proj_weight`` (3h, h), ``in_proj_bias`` (3h,),
    ``out_proj``), but batch-first and split into ``project_query`` / ``project_key_value`` / ``attend`` so that a
    cache can keep projected keys and values.
    """

    def __init__(self, dim: int, heads: int, dropout: float):
        super().__init__()
        self.heads = heads
        self.dropout = dropout
        self.in_proj_weight = nn.Parameter(torch.empty(3 * dim, dim))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * dim))
        self.out_proj = nn.Linear(dim, dim)
        nn.init.xavier_uniform_(self.in_proj_weight)
        nn.init.zeros_(self.out_proj.bias)

    def _split_heads(self, x: Tensor) -> Tensor:
        b, n, c = x.shape
        return x.view(b, n, self.heads, c // self.heads).transpose(1, 2)  # (B, heads, N, head_dim)

    def project_query(self, query: Tensor) -> Tensor:
        """(B, Lq, h) -> (B, heads, Lq, head_dim)."""
        w_q, _, _ = self.in_proj_weight.chunk(3)
        b_q, _, _ = self.in_proj_bias.chunk(3)
        return self._split_heads(F.linear(query, w_q, b_q))

    def project_key_value(self, key: Tensor, value: Tensor) -> tuple[Tensor, Tensor]:
        """(B, Lk, h) each -> two (B, heads, Lk, head_dim)."""
        _, w_k, w_v = self.in_proj_weight.chunk(3)
        _, b_k, b_v = self.in_proj_bias.chunk(3)
        return self._split_heads(F.linear(key, w_k, b_k)), self._split_heads(F.linear(value, w_v, b_v))

    def attend(self, q: Tensor, k: Tensor, v: Tensor, causal: bool = False) -> Tensor:
        """Projected q (B, heads, Lq, d), k and v (B, heads, Lk, d) -> (B, Lq, h) after the out-projection."""
        out = F.scaled_dot_product_attention(
            q, k, v, dropout_p=self.dropout if self.training else 0.0, is_causal=causal
        )  # (B, heads, Lq, d)
        return self.out_proj(out.transpose(1, 2).flatten(2))

    def forward(self, query: Tensor, key: Tensor, value: Tensor, causal: bool = False) -> Tensor:
        """query (B, Lq, h), key and value (B, Lk, h) -> (B, Lq, h). ``causal``: position i sees keys <= i."""
        return self.attend(self.project_query(query), *self.project_key_value(key, value), causal=causal)


@dataclass
class LayerCache:
    """Projected keys/values of one layer, each (B, heads, L, head_dim)."""

    memory_k: Tensor
    memory_v: Tensor
    self_k: list[Tensor] = field(default_factory=list)
    self_v: list[Tensor] = field(default_factory=list)


@dataclass
class DecoderCache:
    """State of incremental decoding: ``length`` tokens decoded so far, one ``LayerCache`` per layer."""

    layers: list[LayerCache]
    length: int = 0


class DecoderLayer(nn.Module):
    """Post-norm layer: causal self-attention, cross-attention to the memory, ReLU feed-forward."""

    def __init__(self, dim: int, heads: int, ffn_dim: int, dropout: float):
        super().__init__()
        self.self_attn = MultiheadAttention(dim, heads, dropout)
        self.cross_attn = MultiheadAttention(dim, heads, dropout)
        self.linear1 = nn.Linear(dim, ffn_dim)
        self.linear2 = nn.Linear(ffn_dim, dim)
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)
        self.norm3 = nn.LayerNorm(dim)
        self.dropout = nn.Dropout(dropout)

    def _after_self_attention(
        self, tgt: Tensor, attended: Tensor, query_pos: Tensor, memory_kv: tuple[Tensor, Tensor]
    ) -> Tensor:
        """Residual + norm1, cross-attention to the projected memory ``memory_kv``, feed-forward."""
        tgt = self.norm1(tgt + self.dropout(attended))
        q = self.cross_attn.project_query(tgt + query_pos)
        tgt = self.norm2(tgt + self.dropout(self.cross_attn.attend(q, *memory_kv)))
        ffn = self.linear2(self.dropout(F.relu(self.linear1(tgt))))
        return self.norm3(tgt + self.dropout(ffn))

    def forward(self, tgt: Tensor, query_pos: Tensor, memory_key: Tensor, memory: Tensor) -> Tensor:
        """All positions at once.

        Args:
            tgt: (B, L, h) layer input. query_pos: (1, L, h). memory_key: (B, Ns, h) = memory + memory pos.
            memory: (B, Ns, h).

        Returns:
            (B, L, h).
        """
        qk = tgt + query_pos
        attended = self.self_attn(qk, qk, tgt, causal=True)
        return self._after_self_attention(tgt, attended, query_pos, self.cross_attn.project_key_value(memory_key, memory))

    def step(self, tgt: Tensor, query_pos: Tensor, cache: LayerCache) -> Tensor:
        """One new position: tgt (B, 1, h), query_pos (1, 1, h) -> (B, 1, h); appends its key/value to ``cache``."""
        qk = tgt + query_pos
        q = self.self_attn.project_query(qk)
        k, v = self.self_attn.project_key_value(qk, tgt)
        cache.self_k.append(k)
        cache.self_v.append(v)
        # No mask: the new token may see itself and every earlier one, which is all the cache holds.
        attended = self.self_attn.attend(q, torch.cat(cache.self_k, dim=2), torch.cat(cache.self_v, dim=2))
        return self._after_self_attention(tgt, attended, query_pos, (cache.memory_k, cache.memory_v))


class VocabHead(nn.Module):
    """MLP hidden -> hidden -> hidden -> vocab with ReLU between (the original's ``vocab_embed``)."""

    def __init__(self, dim: int, vocab: int):
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(dim, dim), nn.Linear(dim, dim), nn.Linear(dim, vocab)])

    def forward(self, x: Tensor) -> Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x) if i == len(self.layers) - 1 else F.relu(layer(x))
        return x


class Decoder(nn.Module):
    """Tokens + memory -> logits over ``bins + 2`` classes."""

    def __init__(self, config: DecoderConfig):
        super().__init__()
        self.config = config
        dim = config.hidden_dim
        # Trainable, initialised to the 1D sinusoid table (the original's top-level ``pos_embed``).
        self.memory_pos = nn.Parameter(sinusoid_table(config.memory_len, dim)[None])  # (1, Ns, h)
        self.token_embed = nn.Embedding(vocab_size(config.bins), dim)
        self.token_norm = nn.LayerNorm(dim)
        self.token_dropout = nn.Dropout(config.dropout)
        # Learned positions of the 5 sequence slots; used as query_pos, never added to the input.
        self.query_pos = nn.Embedding(SEQUENCE_LENGTH, dim)
        self.layers = nn.ModuleList(
            DecoderLayer(dim, config.heads, config.ffn_dim, config.dropout) for _ in range(config.layers)
        )
        self.norm = nn.LayerNorm(dim)
        self.vocab_head = VocabHead(dim, vocab_size(config.bins))
        # The original resets every >1-D parameter of its decoder module (embeddings + layers) to Xavier-uniform;
        # the memory table and the vocabulary MLP live outside that module there and keep their own init.
        for module in (self.token_embed, self.query_pos, self.layers):
            for p in module.parameters():
                if p.dim() > 1:
                    nn.init.xavier_uniform_(p)

    def _embed(self, tokens: Tensor) -> Tensor:
        return self.token_dropout(self.token_norm(self.token_embed(tokens)))

    def forward(self, memory: Tensor, tokens: Tensor) -> Tensor:
        """Teacher-forced logits.

        Args:
            memory: (B, Ns, hidden) bottlenecked search tokens.
            tokens: (B, L) long input tokens, L <= 5 (``[START, cx, cy, w, h]`` in training).

        Returns:
            (B, L, bins + 2) logits; position i depends on tokens 0..i only.
        """
        length = tokens.shape[1]
        if length > SEQUENCE_LENGTH:
            raise ValueError(f"decoder input has {length} tokens; at most {SEQUENCE_LENGTH} (START + 4 coordinates)")
        memory_key = memory + self.memory_pos
        query_pos = self.query_pos.weight[None, :length]
        x = self._embed(tokens)
        for layer in self.layers:
            x = layer(x, query_pos, memory_key, memory)
        return self.vocab_head(self.norm(x))

    def start_cache(self, memory: Tensor) -> DecoderCache:
        """Project the memory keys/values of every layer once. memory: (B, Ns, hidden)."""
        memory_key = memory + self.memory_pos
        return DecoderCache([LayerCache(*layer.cross_attn.project_key_value(memory_key, memory)) for layer in self.layers])

    def step(self, tokens: Tensor, cache: DecoderCache) -> Tensor:
        """Logits for the next position from the newest token only.

        Args:
            tokens: (B, 1) long, the token at position ``cache.length``.
            cache: from ``start_cache``; updated in place.

        Returns:
            (B, bins + 2) logits, equal to ``forward(memory, all tokens so far)[:, -1]``.
        """
        position = cache.length
        if position >= SEQUENCE_LENGTH:
            raise ValueError(f"the decoder cache already holds {position} tokens; a sequence has {SEQUENCE_LENGTH}")
        query_pos = self.query_pos.weight[None, position : position + 1]
        x = self._embed(tokens)
        for layer, layer_cache in zip(self.layers, cache.layers):
            x = layer.step(x, query_pos, layer_cache)
        cache.length += 1
        return self.vocab_head(self.norm(x))[:, 0]
