"""Editors of other programs' configuration: git's credential helpers, docker's credHelpers,
npm's ``.npmrc``.  Each changes only what credhelper owns there."""
