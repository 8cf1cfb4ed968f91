"""Generators behind :mod:`observatory.simulate`: text and ids, the background society, planted cascades, planted
cooperation, and the drop writer. Private: the public face is :func:`observatory.simulate.simulate`."""
