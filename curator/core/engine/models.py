"""Segmentation networks (MONAI), their JSON specs, and safe saving and loading.

A model on disk is two files: ``NAME.pt``, a plain ``state_dict`` loaded with
``torch.load(weights_only=True)`` (never an arbitrary pickle), and ``NAME.json``, its spec:
architecture and size, preprocessing, label values per output class, what it was trained on,
and the SHA-256 of the weights file, which later records cite. A user's own model may instead be a
TorchScript file named in a spec (``"torchscript": "model.ts"``): TorchScript is a program and can
do anything (write files, read them), so it loads only with an explicit opt-in
(``allow_torchscript``, the command line's ``--allow-torchscript``) and a SHA-256 in the spec that
the file matches. A spec's files must lie in the spec's own folder.

Architectures: ``unet`` (``monai.networks.nets.UNet``, residual units, dropout in every unit so
MC dropout works) and ``segresnet`` (``monai.networks.nets.SegResNet``). Plugins add more
through the ``mask_curator.models`` entry point group: a callable ``build(spec) -> nn.Module``.
"""

from __future__ import annotations

import hashlib
import io as _io
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from curator.core.engine.preprocess import PreprocessSpec
from curator.core.io.files import atomic_write

__all__ = ["ModelSpec", "Member", "build_network", "save_member", "load_member", "file_sha256",
           "enable_mc_dropout", "has_dropout"]

FORMAT = "mask-curator-model/1"


@dataclass
class ModelSpec:
    """Everything needed to rebuild a network and feed it: saved as JSON beside the weights."""

    arch: str = "unet"
    spatial_dims: int = 2
    in_channels: int = 3
    labels: list[int] = field(default_factory=lambda: [0, 1])  # label value of each output class
    channels: list[int] = field(default_factory=lambda: [16, 32, 64, 128, 256])
    strides: list[int] = field(default_factory=lambda: [2, 2, 2, 2])
    num_res_units: int = 1
    norm: str = "batch"
    dropout: float = 0.1
    preprocess: PreprocessSpec = field(default_factory=PreprocessSpec)

    @property
    def out_channels(self) -> int:
        return len(self.labels)

    def to_json(self) -> dict:
        d = asdict(self)
        d["preprocess"] = self.preprocess.to_json()
        return d

    @classmethod
    def from_json(cls, d: dict) -> "ModelSpec":
        kw = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        kw["preprocess"] = PreprocessSpec.from_json(d.get("preprocess", {}))
        return cls(**kw)


def build_network(spec: ModelSpec):
    """A fresh, randomly initialised network for ``spec``."""
    arch = spec.arch.lower()
    if arch == "unet":
        from monai.networks.nets import UNet

        return UNet(
            spatial_dims=spec.spatial_dims,
            in_channels=spec.in_channels,
            out_channels=spec.out_channels,
            channels=tuple(spec.channels),
            strides=tuple(spec.strides),
            num_res_units=spec.num_res_units,
            norm=spec.norm.upper(),
            dropout=spec.dropout,
        )
    if arch == "segresnet":
        from monai.networks.nets import SegResNet

        return SegResNet(
            spatial_dims=spec.spatial_dims,
            in_channels=spec.in_channels,
            out_channels=spec.out_channels,
            init_filters=spec.channels[0],
            dropout_prob=spec.dropout or None,
            norm=spec.norm.upper(),
        )
    from importlib.metadata import entry_points

    for ep in entry_points(group="mask_curator.models"):
        if ep.name == arch:
            return ep.load()(spec)
    raise ValueError(f"unknown model architecture '{spec.arch}' (built in: unet, segresnet; plugins add more)")


def has_dropout(model) -> bool:
    import torch.nn as nn

    return any(isinstance(m, (nn.Dropout, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout)) and m.p > 0
               for m in model.modules())


def enable_mc_dropout(model, on: bool = True) -> None:
    """Put only the dropout layers in training mode (normalisation layers stay in eval)."""
    import torch.nn as nn

    model.eval()
    if on:
        for m in model.modules():
            if isinstance(m, (nn.Dropout, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout)):
                m.train()


def file_sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass
class Member:
    """A loaded ensemble member: network, spec, and what it did not train on."""

    name: str
    network: object
    spec: ModelSpec
    sha256: str
    trained_on: set[str] = field(default_factory=set)
    info: dict = field(default_factory=dict)
    torchscript: bool = False

    def out_of_fold_for(self, case_id: str) -> bool:
        return case_id not in self.trained_on


def save_member(path_stem, network, spec: ModelSpec, *, trained_on=(), info: dict | None = None) -> Path:
    """Save weights (``.pt``) and spec (``.json``) atomically; returns the JSON path."""
    import torch

    stem = Path(path_stem)
    buf = _io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in network.state_dict().items()}, buf)
    weights = stem.with_suffix(".pt")
    atomic_write(weights, buf.getvalue())
    doc = {
        "format": FORMAT,
        "name": stem.name,
        "weights": weights.name,
        "sha256": file_sha256(weights),
        "spec": spec.to_json(),
        "trained_on": sorted(trained_on),
        "info": info or {},
    }
    js = stem.with_suffix(".json")
    atomic_write(js, json.dumps(doc, indent=2))
    return js


def _inside(folder: Path, name, what: str, spec: Path) -> Path:
    """The file ``name`` of a spec, which must lie in the spec's own folder (after links)."""
    p = (folder / str(name)).resolve()
    try:
        p.relative_to(folder)
    except ValueError:
        raise ValueError(f"{spec}: its {what} file {name!r} lies outside the spec's folder {folder}; refused "
                         "(a model's files must sit beside its spec)") from None
    if not p.is_file():
        raise ValueError(f"{spec}: its {what} file {p} does not exist")
    return p


def load_member(json_path, device=None, *, allow_torchscript: bool = False) -> Member:
    """Load a member from its JSON spec: a plain state dict, loaded with ``weights_only=True``.

    The spec's files must lie in its own folder. A TorchScript model (``"torchscript": FILE``) is
    a program: it is loaded only with ``allow_torchscript`` and when the spec gives the file's
    SHA-256 and the file matches it. Raises ``ValueError`` saying why a model cannot be loaded
    (a checksum that does not match, a file that is not PyTorch weights, weights that do not fit).
    """
    import torch

    js = Path(json_path)
    try:
        doc = json.loads(js.read_text())
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"{js}: not a readable model spec ({exc})") from exc
    if not isinstance(doc, dict):
        raise ValueError(f"{js}: not a model spec (a JSON object is expected)")
    folder = js.resolve().parent
    try:
        spec = ModelSpec.from_json(doc.get("spec", doc))
    except (TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"{js}: the model spec is not valid ({exc})") from exc
    if doc.get("torchscript"):
        if not allow_torchscript:
            raise ValueError(f"{js}: a TorchScript model is a program that can do anything on this computer; it is "
                             "not loaded unless you trust its source and pass --allow-torchscript (its spec must "
                             "give the file's sha256)")
        ts = _inside(folder, doc["torchscript"], "TorchScript", js)
        digest = file_sha256(ts)
        if not doc.get("sha256"):
            raise ValueError(f"{js}: a TorchScript model needs its file's sha256 in the spec (\"sha256\": \"{digest}\" "
                             "if this is the file you trust)")
        if str(doc["sha256"]).lower() != digest:
            raise ValueError(f"{ts}: checksum {digest[:12]} does not match its spec ({str(doc['sha256'])[:12]}); "
                             "the file was changed or damaged")
        try:
            net = torch.jit.load(str(ts), map_location=device or "cpu")
        except Exception as exc:
            raise ValueError(f"{ts}: not a loadable TorchScript file ({type(exc).__name__}: {exc})") from exc
        net.eval()
        return Member(doc.get("name", js.stem), net, spec, digest, set(doc.get("trained_on", [])),
                      doc.get("info", {}), torchscript=True)
    weights = _inside(folder, doc.get("weights", js.with_suffix(".pt").name), "weights", js)
    digest = file_sha256(weights)
    if doc.get("sha256") and doc["sha256"] != digest:
        raise ValueError(f"{weights}: checksum {digest[:12]} does not match its spec ({doc['sha256'][:12]}); "
                         "the file was changed or damaged")
    try:
        state = torch.load(str(weights), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a file that is not its own
        raise ValueError(f"{weights}: not a PyTorch weights file that can be loaded safely "
                         f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})") from exc
    if not isinstance(state, dict):
        raise ValueError(f"{weights}: holds a {type(state).__name__}, not a state dict of weights")
    net = build_network(spec)
    try:
        net.load_state_dict(state)
    except (RuntimeError, KeyError, TypeError) as exc:
        raise ValueError(f"{weights}: the weights do not fit the network its spec describes "
                         f"({str(exc).splitlines()[0]})") from exc
    if device is not None:
        net.to(device)
    net.eval()
    return Member(doc.get("name", js.stem), net, spec, digest, set(doc.get("trained_on", [])), doc.get("info", {}))
