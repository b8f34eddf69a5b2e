// RUN: pimc opt %examples/gpt2-tiny-decode.onnx -p 'annotate-cost,partition{strategy=roofline},lower-to-pim,convert-pim-to-aim,convert-pim-to-attacc' --print-ir-after-all 2>&1 >/dev/null | filecheck %s --check-prefix=DUMP
// RUN: pimc opt %examples/gpt2-tiny-decode.onnx -p 'annotate-cost,partition,lower-to-pim,convert-pim-to-aim,convert-pim-to-attacc' | filecheck %s --check-prefix=FINAL

// pimc opt imports ONNX directly (shapes folded, layers raised, phase detected); every pass
// dumps the IR to stderr, MLIR-style. The qkv MatMul + bias Add became one nn.linear.
// DUMP:      // -----// IR Dump After annotate-cost //----- //
// DUMP-NEXT: builtin.module attributes {pimc.model = "gpt2-tiny-decode", pimc.onnx_opset = 20 : i64, pimc.system = "npu-aim", pimc.system_description = "{\22source\22: \22npu-aim.toml\22, {{.*}}, pimc.dtype = "fp16"} {
// DUMP:      func.func @decode(
// DUMP:      nn.linear {{.*}}name = "/h.0/attn/c_attn/MatMul", onnx_nodes = ["/h.0/attn/c_attn/MatMul", "/h.0/attn/c_attn/Add"], phase = "decode", cost = {flops = 24768 : i64
// DUMP:      // -----// IR Dump After partition //----- //
// DUMP:      device = #place.device<"pim">
// DUMP:      // -----// IR Dump After lower-to-pim //----- //
// DUMP:      pim.gemv {{.*}}name = "/h.0/attn/c_attn/MatMul"
// DUMP:      // -----// IR Dump After convert-pim-to-aim //----- //
// DUMP:      aim.mac_abk
// DUMP:      // -----// IR Dump After convert-pim-to-attacc //----- //
// DUMP-NOT:  IR Dump After

// The final IR goes to stdout: the lm head (Gemm, transB=1, N=512 outputs) is a GEMV over 32 channels.
// FINAL: pim.gemv {{.*}}name = "/lm_head/Gemm"{{.*}}layout = #pim.gemv_layout<channels = 32, banks = 16, k_tile = 1024, row_base = {{[0-9]+}}>, transpose_w}
// FINAL-NEXT: aim.wr_gb {opsize = 4 : i64, gpr = 0 : i64, channel_mask = #pim.channels<0-31>}
// FINAL-NEXT: aim.mac_abk {opsize = 4 : i64, channel_mask = #pim.channels<0-31>, row = {{[0-9]+}} : i64}
// FINAL-NEXT: aim.rd_mac {gpr = 0 : i64, channel_mask = #pim.channels<0-31>}
// FINAL-NEXT: aim.sync
