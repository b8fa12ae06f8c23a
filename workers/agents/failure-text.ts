// What a sender gets when their message could not be answered (the model call failed for the last
// allowed time). Its own module so that Node-side tests can read it without importing the turn's
// Worker-only dependencies (the audit events' `cloudflare:workers`).
export const FAILURE_TEXT = "Sorry, I could not answer this message. Please try again later.";
