"""What goes into the desktop bundle: read by ``mask-curator.spec`` and checked by the tests.

Kept as plain data so ``tests/unit/test_installer_recipe.py`` can verify it against the package
(entry points, the napari manifest's commands, data files) without running PyInstaller.
"""

# The app's own modules that are only imported dynamically (the napari manifest names them as
# strings; the CLI imports subcommands lazily), so PyInstaller's import graph cannot see them.
HIDDEN_IMPORTS = [
    "curator.cli",
    "curator.gui.app",
    "curator.gui.main_widget",
    "curator.gui.plugin",
    "curator.gui.bench",
    "curator.core.data.discover",
    "curator.core.io.dicom",
    "curator.core.io.readers",
    "curator.core.project.pipeline",
    "curator.core.project.export",
    "curator.lab.report",
    "curator.lab.bench",
    "curator.lab.experiments",
    "curator.lab.synthetic",
    "curator.lab.selftest",
    # readers and codecs found through entry points or dynamic imports
    "pylibjpeg",
    "openjpeg",
    "pydicom.pixels.decoders.pylibjpeg",
    "highdicom",
    "SimpleITK",
    "nibabel",
    "matplotlib.backends.backend_agg",
    "sklearn.ensemble",
    "sklearn.utils._typedefs",
    "skimage.segmentation",
    "monai.networks.nets",
    "monai.inferers",
    "napari_builtins",
    "napari_svg",
    "vispy.app.backends._pyside6",
    "vispy.glsl",
    "qtpy",
    "PySide6.QtOpenGL",
    "PySide6.QtOpenGLWidgets",
]

# Packages bundled whole (code, data and binaries): they load files or plugins at run time.
COLLECT_ALL = [
    "curator",
    "napari",
    "napari_resources",  # icons and logos, read with importlib.resources
    "dask",  # its configuration defaults are a YAML file
    "jsonschema_specifications",
    "OpenGL",
    "lazy_loader",
    "certifi",
    "napari_builtins",
    "napari_svg",
    "napari_console",
    "vispy",
    "superqt",
    "magicgui",
    "app_model",
    "npe2",
    "psygnal",
    "monai",
    "SimpleITK",
    "pydicom",
    "highdicom",
    "pylibjpeg",
    "openjpeg",
    "skimage",
    "imageio",
    "tifffile",
    "pint",
]

# Distributions whose metadata (entry points, versions) must travel: napari finds plugins,
# including Mask Curator itself, through entry points in this metadata.
COPY_METADATA = [
    "mask-curator",
    "napari",
    "napari-svg",
    "napari-console",
    "npe2",
    "app-model",
    "magicgui",
    "imageio",
    "pydicom",
    "highdicom",
    "pylibjpeg",
    "pylibjpeg-openjpeg",
    "torch",
    "monai",
    "SimpleITK",
    "scikit-image",
    "tqdm",
    "numpy",
]

# Data files of our own: (source relative to the repository, destination in the bundle).
DATA_FILES = [
    ("curator/napari.yaml", "curator"),
    ("resources/icons", "resources/icons"),
    ("resources/mask-curator.desktop", "resources"),
]

# Not needed in the app: keep the bundle smaller.
EXCLUDES = ["tkinter", "pytest", "IPython.testing", "torch.utils.tensorboard", "PyQt5", "PyQt6"]

APP_NAME = "mask-curator"
ENTRY_SCRIPT = "installer/entry.py"
