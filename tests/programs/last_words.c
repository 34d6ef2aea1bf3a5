// Dies in a named function, for the last-words scenarios: "exit" calls exit(4) from
// fail_with_exit_code, "null" writes through a NULL pointer in write_through_null, "abort"
// calls abort() from give_up, "thread-crash" crashes in a second thread (crash_in_worker)
// while main waits in pthread_join, "read" blocks in read() on its stdin (to be killed),
// "thread-exit" calls exit(4) while a second thread runs (the group exit takes it down),
// "exec-exit" execs itself as "exit" while a second thread runs (the exec takes it down).
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

__attribute__((noinline)) void fail_with_exit_code(int code) {
  fflush(stdout);
  exit(code);
}

__attribute__((noinline)) void write_through_null(volatile int* p) {
  *p = 42;
}

__attribute__((noinline)) void give_up(void) {
  abort();
}

__attribute__((noinline)) void* crash_in_worker(void* arg) {
  (void)arg;
  usleep(100 * 1000);
  write_through_null((volatile int*)0);
  return NULL;
}

__attribute__((noinline)) void block_in_read(void) {
  char buf[16];
  printf("ready\n");
  fflush(stdout);
  while (read(0, buf, sizeof buf) > 0) {
  }
}

// Spins: a running thread reaches its group's SIGKILL at once, on the other CPU, racing
// the thread that called exit (or exec) for the kernel's attention.
__attribute__((noinline)) void* keep_busy(void* arg) {
  volatile unsigned long* spins = arg;
  for (;;) ++*spins;
  return NULL;
}

int main(int argc, char** argv) {
  const char* mode = argc > 1 ? argv[1] : "exit";
  if (strcmp(mode, "exit") == 0) fail_with_exit_code(4);
  if (strcmp(mode, "null") == 0) write_through_null((volatile int*)0);
  if (strcmp(mode, "abort") == 0) give_up();
  if (strcmp(mode, "thread-crash") == 0) {
    pthread_t worker;
    pthread_create(&worker, NULL, crash_in_worker, NULL);
    pthread_join(worker, NULL);
  }
  if (strcmp(mode, "read") == 0) block_in_read();
  if (strcmp(mode, "thread-exit") == 0 || strcmp(mode, "exec-exit") == 0) {
    static volatile unsigned long spins;
    pthread_t worker;
    pthread_create(&worker, NULL, keep_busy, (void*)&spins);
    usleep(50 * 1000);
    if (strcmp(mode, "thread-exit") == 0) fail_with_exit_code(4);
    execl("/proc/self/exe", argv[0], "exit", (char*)NULL);
    return 126;
  }
  if (strcmp(mode, "clean") == 0) return 0;
  return 3;
}
