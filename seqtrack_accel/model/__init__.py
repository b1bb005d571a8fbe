"""The SeqTrack network: encoder, decoder, box tokens, weight import and the Hub format."""

from __future__ import annotations

from seqtrack_accel.config import VIT_SIZES, Config
from seqtrack_accel.model.decoder import Decoder, DecoderCache, DecoderConfig
from seqtrack_accel.model.encoder import Encoder, EncoderConfig
from seqtrack_accel.model.seqtrack import SeqTrack, SeqTrackConfig
from seqtrack_accel.model.tokens import (
    boxes_to_tokens,
    center_token_loss,
    end_token,
    make_sequences,
    paired_iou,
    sequence_loss,
    start_token,
    teacher_forced_iou,
    tokens_to_boxes,
    vocab_size,
)
from seqtrack_accel.model.weights import load_encoder_pretrained, load_original_checkpoint, load_pretrained


def build_model(cfg: Config) -> SeqTrack:
    """The network of ``cfg`` initialised as ``cfg.model.init`` says.

    - ``scratch``: random init (timm's ViT init for the encoder, Xavier for the decoder).
    - ``mae``: encoder from ``cfg.model.init_weights`` (a timm model name or a local MAE / timm file).
    - ``seqtrack``: every parameter from the released checkpoint file ``cfg.model.init_weights``.
    - ``pretrained``: every parameter from a model of this package (training checkpoint folder or save_pretrained
      folder): the start of fine-tuning. A Hub address is downloaded first (``seqtrack_accel.hub.with_hub_weights``).
    """
    if cfg.model.init == "seqtrack":
        return load_original_checkpoint(cfg.model.init_weights, cfg)
    model = SeqTrack(SeqTrackConfig.from_config(cfg))
    if cfg.model.init == "mae":
        load_encoder_pretrained(model, cfg.model.init_weights)
    elif cfg.model.init == "pretrained":
        load_pretrained(model, cfg.model.init_weights)
    return model


__all__ = [
    "VIT_SIZES",
    "Decoder",
    "DecoderCache",
    "DecoderConfig",
    "Encoder",
    "EncoderConfig",
    "SeqTrack",
    "SeqTrackConfig",
    "boxes_to_tokens",
    "build_model",
    "center_token_loss",
    "end_token",
    "load_encoder_pretrained",
    "load_original_checkpoint",
    "load_pretrained",
    "make_sequences",
    "paired_iou",
    "sequence_loss",
    "start_token",
    "teacher_forced_iou",
    "tokens_to_boxes",
    "vocab_size",
]
