"""SeqTrack: ViT encoder + bottleneck + box-token decoder, with the Hugging Face Hub format.

    model = SeqTrack(SeqTrackConfig.from_config(cfg))
    logits = model(templates, search, input_tokens)            # (B, 5, bins + 2), teacher forcing
    out = model.eval().generate(templates, search)             # greedy, KV-cached, 4 tokens
    model.save_pretrained("run/export", config=cfg)            # config.json, model.safetensors, config.yaml
    model = SeqTrack.from_pretrained("run/export")             # or an ORG/NAME Hub repo
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import safetensors
import safetensors.torch
import torch
from huggingface_hub import ModelCard, PyTorchModelHubMixin, constants, hf_hub_download
from torch import Tensor, nn

from seqtrack_accel.config import (Config, ConfigError, NetworkConfig, check_same_network, dump_config, load_config,
                                   model_signature, network_signature)
from seqtrack_accel.files import atomic_write, write_text_atomic
from seqtrack_accel.model.card import LIBRARY_NAME, TAGS, TRACKING_FILE, pretrained_card
from seqtrack_accel.model.decoder import Decoder, DecoderConfig
from seqtrack_accel.model.encoder import Encoder, EncoderConfig
from seqtrack_accel.model.tokens import NUM_COORDINATES, start_token, tokens_to_boxes

logger = logging.getLogger(__name__)

# Written into the safetensors metadata; bump when the parameter names or layout change.
HUB_FORMAT_VERSION = 1
_FORMAT_KEY = "seqtrack_accel_format_version"


@dataclass(frozen=True)
class SeqTrackConfig(NetworkConfig):
    """Everything that defines the network (the Hub ``config.json``): the network fields of a config's ``model``
    section (``NetworkConfig``, validated there) plus the crop sizes. Defaults are SeqTrack-B256.

    Args:
        search_size, template_size: crop sides in pixels.
        num_templates: templates per sample.
    """

    search_size: int = 256
    template_size: int = 256
    num_templates: int = 2

    def __post_init__(self):
        super().__post_init__()
        for key in ("search_size", "template_size"):
            value = getattr(self, key)
            if value <= 0 or value % self.patch_size:
                raise ConfigError(key, f"must be a positive multiple of patch_size={self.patch_size}, got {value}")
        if self.num_templates < 1:
            raise ConfigError("num_templates", "must be >= 1")

    @classmethod
    def from_config(cls, cfg: Config) -> SeqTrackConfig:
        """The network fields of ``cfg.model`` plus the crop sizes and template number of ``cfg.data``."""
        network = {f.name: getattr(cfg.model, f.name) for f in dataclasses.fields(NetworkConfig)}
        return cls(**network, search_size=cfg.data.search.size, template_size=cfg.data.template.size,
                   num_templates=cfg.data.template.number)

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str = "config") -> SeqTrackConfig:
        """From plain data (a ``config.json``); unknown keys are an error naming ``source``."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(unknown[0], f"{source} has keys SeqTrackConfig does not know: {unknown}; "
                                          "was it written by a newer seqtrack-accel?")
        return cls(**values)

    def signature(self) -> dict:
        """What fixes the parameter shapes, comparable with ``seqtrack_accel.config.model_signature(cfg)``."""
        return network_signature(self, self.search_size, self.template_size, self.num_templates)

    def encoder_config(self) -> EncoderConfig:
        return EncoderConfig(
            size=self.encoder,
            search_size=self.search_size,
            template_size=self.template_size,
            num_templates=self.num_templates,
            patch_size=self.patch_size,
            drop_path=self.drop_path,
            activation_checkpointing=self.activation_checkpointing,
        )

    def decoder_config(self) -> DecoderConfig:
        return DecoderConfig(
            bins=self.bins,
            memory_len=(self.search_size // self.patch_size) ** 2,
            hidden_dim=self.hidden_dim,
            layers=self.decoder_layers,
            heads=self.decoder_heads,
            ffn_dim=self.decoder_ffn,
            dropout=self.dropout,
        )


class SeqTrack(nn.Module, PyTorchModelHubMixin, library_name=LIBRARY_NAME, tags=list(TAGS)):
    """The tracker network. ``state_dict`` names: ``encoder.*``, ``bottleneck.*``, ``decoder.*``."""

    def __init__(self, config: SeqTrackConfig):
        super().__init__()
        if not isinstance(config, SeqTrackConfig):
            raise TypeError(f"SeqTrack needs a SeqTrackConfig, got {type(config).__name__}; "
                            "use SeqTrackConfig.from_config(cfg) or SeqTrackConfig.from_dict(values)")
        self.config = config
        self.encoder = Encoder(config.encoder_config())
        self.num_search_tokens = self.encoder.config.num_search_tokens
        self.bottleneck = nn.Linear(self.encoder.width, config.hidden_dim)
        self.decoder = Decoder(config.decoder_config())

    def encode(self, template_images: Tensor, search_images: Tensor) -> Tensor:
        """Decoder memory: the encoded search tokens through the bottleneck.

        Args:
            template_images: (B, T, 3, Hz, Wz). search_images: (B, 3, Hx, Wx). Normalised crops.

        Returns:
            (B, Ns, hidden_dim).
        """
        tokens = self.encoder(template_images, search_images)
        return self.bottleneck(tokens[:, : self.num_search_tokens])

    def forward(self, template_images: Tensor, search_images: Tensor, input_tokens: Tensor,
                return_memory: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        """Teacher-forced logits.

        Args:
            template_images: (B, T, 3, Hz, Wz). search_images: (B, 3, Hx, Wx).
            input_tokens: (B, L) long, L <= 5, normally ``[START, cx, cy, w, h]``.
            return_memory: also return the decoder memory (for a loss on it, ``center_token_loss``).

        Returns:
            (B, L, bins + 2) logits; with ``return_memory``, ``(logits, memory)``, memory (B, Ns, hidden_dim).
        """
        memory = self.encode(template_images, search_images)
        logits = self.decoder(memory, input_tokens)
        return (logits, memory) if return_memory else logits

    @torch.no_grad()
    def generate(
        self, template_images: Tensor, search_images: Tensor, window: bool = True, use_cache: bool = True
    ) -> dict[str, Tensor]:
        """Greedy decoding of one box per sample as the original tracker does it (``lib/test/tracker/seqtrack.py``).

        Each step takes the softmax over the whole vocabulary, keeps the first ``bins`` classes (coordinates
        only, not renormalised), multiplies cx and cy by a Hanning window of length ``bins`` when ``window``,
        and picks the largest value; that (windowed) value is the token's probability, as in the original.

        Args:
            template_images: (B, T, 3, Hz, Wz). search_images: (B, 3, Hx, Wx). Normalised crops.
            window: apply the Hanning window to cx and cy.
            use_cache: decode one token per step with the KV cache; False recomputes the whole prefix each step
                (same result, slower; for tests and benchmarks).

        Returns:
            dict with ``boxes`` (B, 4) float cxcywh normalised to the search crop, ``tokens`` (B, 4) long,
            ``probs`` (B, 4) float32 chosen-token probabilities, ``confidence`` (B,) = 10 x sum of ``probs``.
        """
        if self.training:
            raise RuntimeError("SeqTrack.generate() runs with dropout active; call model.eval() first")
        return self.decode_boxes(self.encode(template_images, search_images), window=window, use_cache=use_cache)

    def decode_boxes(self, memory: Tensor, window: bool = True, use_cache: bool = True) -> dict[str, Tensor]:
        """The decoding half of ``generate``: 4 greedy steps over the encoder output ``memory`` (B, Ns, C)."""
        bins = self.config.bins
        tokens = torch.full((memory.shape[0], 1), start_token(bins), dtype=torch.long, device=memory.device)
        hann = torch.hann_window(bins, periodic=False, dtype=torch.float32, device=memory.device)
        cache = self.decoder.start_cache(memory) if use_cache else None
        chosen_probs = []
        for step in range(NUM_COORDINATES):
            if cache is not None:
                logits = self.decoder.step(tokens[:, -1:], cache)
            else:
                logits = self.decoder(memory, tokens)[:, -1]
            probs = logits.float().softmax(dim=-1)[:, :bins]
            if window and step < 2:  # cx, cy
                probs = probs * hann
            prob, token = probs.max(dim=-1)
            chosen_probs.append(prob)
            tokens = torch.cat([tokens, token[:, None]], dim=1)
        box_tokens = tokens[:, 1:]
        probs = torch.stack(chosen_probs, dim=1)
        return {
            "boxes": tokens_to_boxes(box_tokens, bins),
            "tokens": box_tokens,
            "probs": probs,
            "confidence": probs.sum(dim=1) * 10.0,
        }

    # ---------------------------------------------------------------------------------------------------------
    # Hub format. The mixin's defaults load with strict=False and cannot rebuild a dataclass config from a
    # string annotation (this module uses ``from __future__ import annotations``), so both ends are ours.

    def save_pretrained(self, save_directory: str | Path, *, config: Config | None = None, repo_id: str | None = None,
                        push_to_hub: bool = False, model_card_kwargs: dict[str, Any] | None = None,
                        **push_to_hub_kwargs) -> str | None:
        """Write ``model.safetensors`` and ``config.json`` (the network) into ``save_directory``, and with ``config``
        (the config the model was trained with) ``config.yaml``: the crop factors, the normalisation and the tracking
        settings, so that ``load_tracker_model``, ``seqtrack-track`` and ``seqtrack-evaluate`` take the folder
        without ``--config``. Then a model card, ``README.md``, unless the folder has one: what the folder is and
        how to track with it. ``push_to_hub``, ``repo_id`` and the other keywords: as
        ``PyTorchModelHubMixin.save_pretrained`` (the pushed folder is this one).

        Raises ConfigError naming the keys when ``config`` builds another network than this model's.
        """
        if config is not None:
            if not isinstance(config, Config):
                raise TypeError(f"config must be the training Config (seqtrack_accel.config), got "
                                f"{type(config).__name__}; the network's config.json is written from the model")
            check_same_network(model_signature(config), self.config.signature(),
                               "the given config (expected) and the model (found) differ; pass the config the model "
                               "was trained with")
        folder = Path(save_directory)
        folder.mkdir(parents=True, exist_ok=True)
        self._save_pretrained(folder)
        if config is not None:
            write_text_atomic(folder / TRACKING_FILE, dump_config(config))
        if not (folder / "README.md").exists():  # as the mixin: a card written or edited by hand is kept
            tracking = load_config(folder / TRACKING_FILE) if (folder / TRACKING_FILE).is_file() else None
            write_text_atomic(folder / "README.md", str(self.generate_model_card(tracking=tracking)))
        if push_to_hub:
            return self.push_to_hub(repo_id or folder.name, config=config, model_card_kwargs=model_card_kwargs,
                                    **push_to_hub_kwargs)
        return None

    def generate_model_card(self, *args, tracking: Config | None = None, **kwargs) -> ModelCard:
        """The card of a ``save_pretrained`` folder of this model whose ``config.yaml`` holds ``tracking``."""
        return pretrained_card(self.config, sum(p.numel() for p in self.parameters()), tracking)

    def _save_pretrained(self, save_directory: Path) -> None:
        save_directory = Path(save_directory)
        weights = {name: tensor.detach().contiguous() for name, tensor in self.state_dict().items()}
        atomic_write(
            save_directory / constants.SAFETENSORS_SINGLE_FILE,
            lambda path: safetensors.torch.save_file(
                weights, str(path), metadata={"format": "pt", _FORMAT_KEY: str(HUB_FORMAT_VERSION)}
            ),
        )
        text = json.dumps(dataclasses.asdict(self.config), sort_keys=True, indent=2)
        atomic_write(save_directory / constants.CONFIG_NAME, lambda path: path.write_text(text))

    @classmethod
    def _from_pretrained(
        cls,
        *,
        model_id: str,
        revision: str | None = None,
        cache_dir: str | Path | None = None,
        force_download: bool = False,
        local_files_only: bool = False,
        token: str | bool | None = None,
        config: SeqTrackConfig | dict | None = None,
        map_location: str | torch.device = "cpu",
        strict: bool = True,
        **model_kwargs,
    ) -> SeqTrack:
        if model_kwargs:
            raise TypeError(f"SeqTrack.from_pretrained got unexpected arguments {sorted(model_kwargs)}")
        if config is None:
            raise FileNotFoundError(
                f"{model_id} has no {constants.CONFIG_NAME}; it was not written by SeqTrack.save_pretrained"
            )
        if isinstance(config, dict):
            config = SeqTrackConfig.from_dict(config, source=f"{model_id}/{constants.CONFIG_NAME}")
        if os.path.isdir(model_id):
            weights_file = os.path.join(model_id, constants.SAFETENSORS_SINGLE_FILE)
            if not os.path.isfile(weights_file):
                raise FileNotFoundError(f"{weights_file} is missing; save the model with SeqTrack.save_pretrained")
        else:
            weights_file = hf_hub_download(
                repo_id=model_id,
                filename=constants.SAFETENSORS_SINGLE_FILE,
                revision=revision,
                cache_dir=cache_dir,
                force_download=force_download,
                local_files_only=local_files_only,
                token=token,
            )
        with safetensors.safe_open(weights_file, framework="pt") as f:
            version = (f.metadata() or {}).get(_FORMAT_KEY)
        if version is None or int(version) > HUB_FORMAT_VERSION:
            raise ValueError(
                f"{weights_file} has {_FORMAT_KEY}={version!r}; this seqtrack-accel reads versions 1.."
                f"{HUB_FORMAT_VERSION}. Upgrade seqtrack-accel or re-export the model with save_pretrained"
            )
        model = cls(config)
        state = safetensors.torch.load_file(weights_file)
        result = model.load_state_dict(state, strict=False)
        if strict and (result.missing_keys or result.unexpected_keys):
            raise KeyError(
                f"{weights_file} does not match SeqTrack({config}): missing keys {result.missing_keys}, "
                f"unexpected keys {result.unexpected_keys}"
            )
        model.to(map_location)
        model.eval()
        return model
