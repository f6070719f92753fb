//! The conversational architect: ai.chat keeps a conversation per session, sends each
//! message to the tool it is for and reads follow-ups against the previous question.
pub mod api;
pub mod followup;
pub mod preview;
pub mod turn;
