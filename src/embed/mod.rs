//! In-process embeddings: the model assets and (with the engine) the ONNX session.
pub mod assets;
