"""How the review layers look: label and change colours, colour maps, CT windows, the
uncertainty measures' names and units, and the heatmap's contrast (shared by the layers and the
panel's legend)."""

from __future__ import annotations

import numpy as np

__all__ = ["CT_PRESETS", "MEASURES", "MEASURE_UNITS", "COLORMAPS", "LABEL_COLOURS", "CHANGE_COLOURS", "HEAT_FLOOR",
           "label_colour", "change_colormap", "label_colormap", "translucent", "heat_range"]

CT_PRESETS = {  # name: (window, level) in HU
    "Abdomen": (400, 40),
    "Liver": (150, 60),
    "Soft tissue": (350, 50),
    "Lung": (1500, -600),
    "Bone": (1800, 400),
    "Brain": (80, 40),
}
MEASURES = {
    "entropy": "Entropy (total)",
    "mutual_info": "Mutual information (epistemic)",
    "aleatoric": "Expected entropy (aleatoric)",
    "variance": "Variance (Kwon, poster's U)",
    "kwon_epistemic": "Epistemic variance (Kwon)",
    "p_given": "Probability of the given label",
}
MEASURE_UNITS = {  # what the colour bar's numbers are
    "entropy": "nats",
    "mutual_info": "nats",
    "aleatoric": "nats",
    "variance": "probability²",
    "kwon_epistemic": "probability²",
    "p_given": "1 − probability",
}
COLORMAPS = ("inferno", "magma", "turbo", "viridis", "hot", "gray")
# label value -> colour, the same in the given outline, the working mask and the panel's legend
LABEL_COLOURS = {1: (0.0, 0.8, 1.0), 2: (1.0, 0.6, 0.0), 3: (0.6, 0.4, 1.0), 4: (1.0, 1.0, 0.3), 5: (0.3, 1.0, 0.6),
                 6: (1.0, 0.4, 0.6), 7: (0.6, 0.9, 1.0), 8: (0.9, 0.7, 0.4), 9: (0.7, 0.7, 0.7)}


def label_colour(value: int) -> tuple[float, float, float]:
    """The colour of a label value: the fixed ones above, then hues spread by the golden ratio."""
    import colorsys

    if value in LABEL_COLOURS:
        return LABEL_COLOURS[value]
    return colorsys.hsv_to_rgb((value * 0.618034) % 1.0, 0.65, 1.0)


CHANGE_COLOURS = {1: ("added", (0.2, 1.0, 0.2)), 2: ("removed", (1.0, 0.2, 1.0)), 3: ("relabelled", (1.0, 0.9, 0.1)),
                  4: ("left out", (0.8, 0.8, 0.8))}
HEAT_FLOOR = 0.15  # below this share of the map's top value the heatmap is fully transparent



def change_colormap():
    from napari.utils.colormaps import DirectLabelColormap

    colours = {k: (*c, 1.0) for k, (_, c) in CHANGE_COLOURS.items()}
    return DirectLabelColormap(color_dict={None: (0, 0, 0, 0), 0: (0, 0, 0, 0), **colours})


def label_colormap():
    from napari.utils.colormaps import DirectLabelColormap

    return DirectLabelColormap(color_dict={None: (*LABEL_COLOURS[9], 1.0), 0: (0, 0, 0, 0),
                                           **{k: (*label_colour(k), 1.0) for k in range(1, 256)}})


def translucent(name: str):
    """``name``'s colours with an opacity rising from nothing at the bottom of the range, so the
    image shows through where the models are sure and the colour says how unsure they are."""
    from napari.utils.colormaps import Colormap, ensure_colormap

    t = np.linspace(0.0, 1.0, 256)
    rgba = np.asarray(ensure_colormap(name).map(t), float)
    rgba[:, 3] = 0.85 * np.clip(t / 0.5, 0.0, 1.0) ** 0.8  # never fully opaque: the image stays readable
    return Colormap(rgba, name=f"{name} (translucent)", controls=t)




def heat_range(data: np.ndarray, sample: int = 1 << 20) -> tuple[float, float]:
    """The heatmap's contrast: from the floor (HEAT_FLOOR of the top value, or the case's median
    when most of it is uncertain) to the 99.9th percentile, from an even sample of about a million
    values for large volumes (the full sort cost a 3D switch 130 ms)."""
    flat = data.reshape(-1)
    if flat.size == 0:
        return 0.0, 1.0
    med, hi = np.percentile(flat[:: max(1, flat.size // sample)], [50.0, 99.9])
    hi = max(float(hi), 1e-3)
    lo = min(max(HEAT_FLOOR * hi, float(med)), 0.9 * hi)
    return lo, hi
