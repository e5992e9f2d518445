"""The napari / Qt front end: desktop app, docked Curator panel and napari plugin contributions.

A thin adapter over :mod:`curator.core`: widgets call core functions, long jobs run the core's
generators in napari workers, and results are applied to layers on the GUI thread. Importing this
package does not import Qt; its submodules do.
"""
