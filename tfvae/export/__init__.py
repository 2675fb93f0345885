"""The SavedModel schema, both sides: the writer (`saved_model`, with the
serving graphs in `signatures` and `sequence`), the reader the evaluation
uses (`reader`), the file names they share (`schema`) and TF Serving's
version directories (`layout`).
"""
