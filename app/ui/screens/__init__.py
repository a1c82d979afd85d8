"""One module per screen: `build_<screen>(ctx, ...) -> ft.Control` (see app/ui/routes.py)."""
