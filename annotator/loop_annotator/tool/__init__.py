"""The default annotation tool (OpenCV only): a box and clicks seed GrabCut; the outline goes back as an SVG
polygon. `GrabCutTool` is the plugin; the other modules are its pieces."""
