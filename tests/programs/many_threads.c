/* many_threads N [EXIT_CODE [hold]]: starts N threads that are all alive at once (each
   blocks reading a pipe), prints "ready N", with "hold" waits for a line (or EOF) on stdin,
   then closes the pipe so every thread returns, joins them all and exits with EXIT_CODE
   (default 0). A watcher whose per-thread work scales with the number of live threads
   shows up here as quadratic cost. Exits 100 if the threads cannot be created (limits). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int gate[2];

static void* wait_for_gate(void* arg) {
  (void)arg;
  char c;
  while (read(gate[0], &c, 1) > 0) {}  /* EOF once main closes the write end */
  return NULL;
}

int main(int argc, char** argv) {
  const int n = argc > 1 ? atoi(argv[1]) : 1000;
  const int code = argc > 2 ? atoi(argv[2]) : 0;
  const int hold = argc > 3 && strcmp(argv[3], "hold") == 0;
  if (pipe(gate) != 0) { perror("pipe"); return 100; }
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 64 * 1024);  /* thousands of threads, little memory */
  pthread_t* threads = calloc((size_t)n, sizeof *threads);
  if (!threads) return 100;
  for (int i = 0; i < n; i++) {
    if (pthread_create(&threads[i], &attr, wait_for_gate, NULL) != 0) {
      perror("pthread_create");
      return 100;
    }
  }
  printf("ready %d\n", n);
  fflush(stdout);
  if (hold) {
    char line[16];
    (void)fgets(line, sizeof line, stdin);
  }
  close(gate[1]);
  for (int i = 0; i < n; i++) pthread_join(threads[i], NULL);
  return code;
}
