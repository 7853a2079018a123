// Native floor for the C# benchmarks: the same scenarios, calling libotel_thread_ctx.so directly.
// Built once against the header; run with LD_LIBRARY_PATH pointing at the default or the inline build.
#include <benchmark/benchmark.h>

#include <cstring>
#include <vector>

#include "otel_thread_ctx.h"

namespace {

const uint8_t kTrace[16] = {0x0a, 0xf7, 0x65, 0x19, 0x16, 0xcd, 0x43, 0xdd, 0x84, 0x48, 0xeb, 0x21, 0x1c, 0x80, 0x31, 0x9c};
const uint8_t kSpan[8] = {0xb7, 0xad, 0x6b, 0x71, 0x69, 0x20, 0x33, 0x31};
const uint8_t kValue[16] = {'/', 'o', 'r', 'd', 'e', 'r', 's', '/', '{', 'i', 'd', '}', '/', 'x', 'y', 'z'};

void SingleInPlace(benchmark::State& state) {
    otel_thread_ctx_record* record = otel_thread_ctx_record_new();
    otel_thread_ctx_attach(record);
    for (auto _ : state) {
        otel_thread_ctx_record* r = otel_thread_ctx_update_begin();
        otel_thread_ctx_record_set_ids(r, kTrace, kSpan, 1);
        otel_thread_ctx_record_clear_attrs(r);
        otel_thread_ctx_record_add_attr(r, 0, kValue, sizeof kValue);
        otel_thread_ctx_update_end();
    }
    otel_thread_ctx_detach();
    otel_thread_ctx_record_free(record);
}

void SingleSwap(benchmark::State& state) {
    otel_thread_ctx_attach(otel_thread_ctx_record_new());
    for (auto _ : state) {
        otel_thread_ctx_record* record = otel_thread_ctx_record_new();
        otel_thread_ctx_record_set_ids(record, kTrace, kSpan, 1);
        otel_thread_ctx_record_add_attr(record, 0, kValue, sizeof kValue);
        otel_thread_ctx_record_free(otel_thread_ctx_attach(record));
    }
    otel_thread_ctx_record_free(otel_thread_ctx_detach());
}

// What the .NET API's single/swap does natively: a counted record per switch, the previous one disposed.
void SingleSwapCounted(benchmark::State& state) {
    uintptr_t previous = 0;
    otel_thread_ctx_record* published = nullptr;
    for (auto _ : state) {
        otel_thread_ctx_record* record = otel_thread_ctx_record_new_user(1);
        otel_thread_ctx_record_set_ids(record, kTrace, kSpan, 1);
        otel_thread_ctx_record_add_attr(record, 0, kValue, sizeof kValue);
        otel_thread_ctx_attach_counted(record, &previous);
        if (published != nullptr) {
            otel_thread_ctx_record_dispose_checked(published, 1);
        }
        published = record;
    }
    otel_thread_ctx_clear();
    otel_thread_ctx_record_dispose_checked(published, 1);
}

void MultiSwap(benchmark::State& state) {
    std::vector<otel_thread_ctx_record*> records(static_cast<size_t>(state.range(0)));
    for (auto& r : records) {
        r = otel_thread_ctx_record_new();
        otel_thread_ctx_record_set_ids(r, kTrace, kSpan, 1);
    }
    size_t i = 0;
    for (auto _ : state) {
        benchmark::DoNotOptimize(otel_thread_ctx_attach(records[i]));
        if (++i == records.size()) i = 0;
    }
    otel_thread_ctx_detach();
    for (auto* r : records) otel_thread_ctx_record_free(r);
}

void AttachDetach(benchmark::State& state) {
    otel_thread_ctx_record* record = otel_thread_ctx_record_new();
    for (auto _ : state) {
        benchmark::DoNotOptimize(otel_thread_ctx_attach(record));
        benchmark::DoNotOptimize(otel_thread_ctx_detach());
    }
    otel_thread_ctx_record_free(record);
}

// The thread-owned path: new ids (and one 16-byte attribute) written into the unpublished record, then swapped in.
void SetIdsImpl(benchmark::State& state, bool with_attr) {
    uint8_t attrs[2 + sizeof kValue] = {0, sizeof kValue};
    std::memcpy(attrs + 2, kValue, sizeof kValue);
    // Sixteen distinct trace ids, rotated (as the C# benchmark does): ids written long before they are read.
    uint8_t traces[16][16];
    for (int i = 0; i < 16; i++) {
        std::memcpy(traces[i], kTrace, sizeof kTrace);
        traces[i][0] = static_cast<uint8_t>(i);
    }
    unsigned i = 0;
    for (auto _ : state) {
        benchmark::DoNotOptimize(otel_thread_ctx_set(traces[i++ & 15], kSpan, 1, with_attr ? attrs : nullptr, with_attr ? sizeof attrs : 0));
    }
    otel_thread_ctx_detach();
}

// What the .NET API's shared-record attach does natively: the same swaps, counted (owner thread, plain writes).
void MultiSwapCounted(benchmark::State& state) {
    std::vector<otel_thread_ctx_record*> records(static_cast<size_t>(state.range(0)));
    for (auto& r : records) {
        r = otel_thread_ctx_record_new_user(1);
        otel_thread_ctx_record_set_ids(r, kTrace, kSpan, 1);
    }
    size_t i = 0;
    uintptr_t previous = 0;
    for (auto _ : state) {
        benchmark::DoNotOptimize(otel_thread_ctx_attach_counted(records[i], &previous));
        if (++i == records.size()) i = 0;
    }
    otel_thread_ctx_clear();
    for (auto* r : records) {
        otel_thread_ctx_record_dispose(r);
    }
}

void AttachDetachCounted(benchmark::State& state) {
    otel_thread_ctx_record* record = otel_thread_ctx_record_new_user(1);
    uintptr_t previous = 0;
    for (auto _ : state) {
        benchmark::DoNotOptimize(otel_thread_ctx_attach_counted(record, &previous));
        benchmark::DoNotOptimize(otel_thread_ctx_clear());
    }
    otel_thread_ctx_record_dispose(record);
}

void SetIds(benchmark::State& state) { SetIdsImpl(state, false); }
void SetIdsAttr(benchmark::State& state) { SetIdsImpl(state, true); }

}  // namespace

BENCHMARK(SingleInPlace)->Name("single/in_place");
BENCHMARK(SingleSwap)->Name("single/swap");
BENCHMARK(SingleSwapCounted)->Name("single/swap/counted");
BENCHMARK(MultiSwap)->Name("multi/swap")->Arg(4)->Arg(16);
BENCHMARK(AttachDetach)->Name("attach_detach");
BENCHMARK(MultiSwapCounted)->Name("multi/swap/counted")->Arg(4);
BENCHMARK(AttachDetachCounted)->Name("attach_detach/counted");
BENCHMARK(SetIds)->Name("set/ids");
BENCHMARK(SetIdsAttr)->Name("set/ids+attr");
BENCHMARK_MAIN();
