# Two changes to whisper.cpp's source that make transcription faster without changing
# its output (transcripts and timestamps identical on the test clips):
#
# 1. Padded encoder attention. The encoder's self-attention is padded from 1500 audio
#    frames to 1504, so that its V x softmax(KQ) product runs on tinyBLAS instead of
#    ggml's generic dot products. tinyBLAS only takes products whose inner length is a
#    multiple of its vector width (16 with AVX-512, 8 with NEON); in that product the
#    inner length is the number of frames, 1500 for every Whisper model, so ggml fell
#    back to `ggml_vec_dot_f16` for it. K and V get zero frames at the end and the
#    softmax a mask that gives those frames no weight: the same attention, summed in a
#    different order. The flash-attention branch (not used by algo-speech) is left as it
#    is. The decoder's cross-attention has the same inner length, but it multiplies one
#    token at a time, where tinyBLAS is not used at all (`llamafile_sgemm` returns early
#    for n < 2), so padding it gains nothing.
# 2. Logits of the last token only. Each 30 s window after the first is decoded after a
#    prompt of up to 224 tokens of the text before it, and whisper.cpp projected every
#    prompt token onto the 51,864-word vocabulary (about a quarter of an encoder pass for
#    tiny.en) though it reads the last token's logits only. The projection now takes the
#    last row alone when the batch asks for no other (whisper.cpp's own commented-out
#    line); not with DTW token timestamps, which algo-speech does not use.
#
# How they are applied: whisper-rs-sys copies whisper.cpp into its OUT_DIR and passes
# every CMAKE_* variable of the build's environment to its CMake; .cargo/config.toml sets
# CMAKE_PROJECT_INCLUDE to this file, so CMake runs it while configuring that copy and it
# edits the copy's src/whisper.cpp. The crate in ~/.cargo/registry is not touched. When
# whisper-rs-sys brings a whisper.cpp that reads differently, the build stops here with
# an error rather than building without the changes.
include_guard(GLOBAL)

set(_source "${CMAKE_SOURCE_DIR}/src/whisper.cpp")
if(NOT EXISTS "${_source}")
  # CMAKE_PROJECT_INCLUDE reached some other CMake project: nothing to do there.
  return()
endif()
file(READ "${_source}" _text)
string(FIND "${_text}" "algo-speech: padded attention" _done) # added by change 1
if(_done GREATER -1)
  return()
endif()

function(_replace_once anchor replacement)
  string(FIND "${_text}" "${anchor}" _first)
  string(FIND "${_text}" "${anchor}" _last REVERSE)
  if(_first EQUAL -1 OR NOT _first EQUAL _last)
    string(REGEX MATCH "[^\n]+" _line "${anchor}")
    message(FATAL_ERROR "${CMAKE_CURRENT_LIST_FILE}: this whisper.cpp does not read as "
      "this file expects (whisper-rs-sys upgraded?): no single \"${_line}\". Update or "
      "remove the change and CMAKE_PROJECT_INCLUDE in .cargo/config.toml.")
  endif()
  string(REPLACE "${anchor}" "${replacement}" _text "${_text}")
  set(_text "${_text}" PARENT_SCOPE)
endfunction()

# 1. Padded encoder attention: helpers, ahead of the encoder's graph.
_replace_once([=[
static struct ggml_cgraph * whisper_build_graph_encoder(
]=] [=[
// algo-speech: padded attention (crates/algo-speech/whisper.cpp/speedups.cmake)
// Softmax mask [n_padded, n_rows]: 0 for the n_ctx frames, -1e30 for the padding after them.
static struct ggml_tensor * whisper_padding_mask(struct ggml_context * ctx0, int n_ctx, int n_padded, int n_rows) {
    if (n_padded == n_ctx) {
        return nullptr;
    }
    struct ggml_tensor * past_end =
        ggml_step(ctx0, ggml_arange(ctx0, 0.5f - n_ctx, 0.5f - n_ctx + n_padded, 1.0f));
    return ggml_repeat(ctx0, ggml_scale(ctx0, past_end, -1e30f),
            ggml_new_tensor_2d(ctx0, GGML_TYPE_F32, n_padded, n_rows));
}

static struct ggml_cgraph * whisper_build_graph_encoder(
]=])

# Encoder: K and V padded in the graph.
_replace_once([=[
    const float KQscale = 1.0f/sqrtf(float(n_state_head));

    // ===================================================================
    // NOTE: experimenting with partial evaluation of the encoder (ignore)
]=] [=[
    const float KQscale = 1.0f/sqrtf(float(n_state_head));

    const int n_ctx_mm = GGML_PAD(n_ctx, 32); // audio frames in the attention products
    auto pad_frames = [&](struct ggml_tensor * t) {
        return n_ctx_mm == n_ctx ? t : ggml_pad(ctx0, t, 0, n_ctx_mm - n_ctx, 0, 0);
    };
    struct ggml_tensor * KQ_mask = whisper_padding_mask(ctx0, n_ctx, n_ctx_mm, n_ctx);

    // ===================================================================
    // NOTE: experimenting with partial evaluation of the encoder (ignore)
]=])

_replace_once("ggml_reshape_3d(ctx0, Kcur, n_state_head, n_head, n_ctx),"
  "ggml_reshape_3d(ctx0, pad_frames(Kcur), n_state_head, n_head, n_ctx_mm),")

_replace_once([=[
                struct ggml_tensor * KQ_soft_max = ggml_soft_max_ext(ctx0, KQ, nullptr, KQscale, 0.0f);

                struct ggml_tensor * V =
]=] [=[
                struct ggml_tensor * KQ_soft_max = ggml_soft_max_ext(ctx0, KQ, KQ_mask, KQscale, 0.0f);

                struct ggml_tensor * V =
]=])

_replace_once([=[
                                    Vcur,
                                    n_state_head, n_head, n_ctx),
]=] [=[
                                    pad_frames(Vcur),
                                    n_state_head, n_head, n_ctx_mm),
]=])


# 2. Logits of the last token only.
_replace_once([=[
    //cur = ggml_view_2d(ctx0, cur, cur->ne[0], 1, cur->nb[1], (cur->ne[1] - 1)*cur->nb[1]);

    struct ggml_tensor * logits = ggml_mul_mat(ctx0, model.d_te, cur);
]=] [=[
    //cur = ggml_view_2d(ctx0, cur, cur->ne[0], 1, cur->nb[1], (cur->ne[1] - 1)*cur->nb[1]);
    // algo-speech: the last token's only, when the batch asks for no other (speedups.cmake)
    if (!worst_case && !wctx.params.dtw_token_timestamps && n_tokens > 1) {
        bool last_only = batch.logits[n_tokens - 1] != 0;
        for (int i = 0; i < n_tokens - 1 && last_only; ++i) {
            last_only = batch.logits[i] == 0;
        }
        if (last_only) {
            cur = ggml_view_2d(ctx0, cur, cur->ne[0], 1, cur->nb[1], (cur->ne[1] - 1)*cur->nb[1]);
        }
    }

    struct ggml_tensor * logits = ggml_mul_mat(ctx0, model.d_te, cur);
]=])

_replace_once([=[
        ggml_backend_tensor_get(logits, logits_out.data() + (n_vocab*i), sizeof(float)*(n_vocab*i), sizeof(float)*n_vocab);
]=] [=[
        const int row = logits->ne[1] == n_tokens ? i : 0; // one row: the last token's only
        ggml_backend_tensor_get(logits, logits_out.data() + (n_vocab*i), sizeof(float)*(n_vocab*row), sizeof(float)*n_vocab);
]=])

file(WRITE "${_source}" "${_text}")
message(STATUS "algo-speech: whisper.cpp patched (speedups.cmake): padded encoder attention, last-token logits")
