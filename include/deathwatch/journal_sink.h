// The journal: the final certificate as one structured entry (sd_journal_sendv), so that
// `journalctl DEATHWATCH_CATEGORY=oom` lists every OOM death on the host.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "deathwatch/sink.h"

namespace deathwatch {

// Every entry carries this MESSAGE_ID; its catalog entry is data/deathwatch.catalog.
inline constexpr const char* kJournalMessageId = "c963d0e89f064a55a4ac4de84cd1c044";

// Whether $JOURNAL_STREAM ("device:inode") names deathwatch's own stderr, as systemd sets
// it for a service whose stderr is the journal. The variable alone proves nothing (it is
// inherited by everything the service starts): the descriptor is compared with fstat.
bool stderr_is_journal_stream();

// `certificate_path`: the -o file, for DEATHWATCH_CERTIFICATE (empty: none).
std::unique_ptr<Sink> journal_sink(std::string certificate_path);

}  // namespace deathwatch
