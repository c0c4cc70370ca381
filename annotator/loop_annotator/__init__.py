"""The annotation node: turns a person's marks on an image (a box, clicks) into a segmentation polygon."""
