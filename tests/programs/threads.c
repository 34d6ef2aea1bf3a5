/* threads N: starts N threads that block, prints "ready" and waits to be killed. A
   process-directed signal may be taken by any of the threads. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
static void* idle(void* arg) { (void)arg; for (;;) pause(); return NULL; }
int main(int argc, char** argv) {
  int n = argc > 1 ? atoi(argv[1]) : 8;
  for (int i = 0; i < n; i++) {
    pthread_t t;
    if (pthread_create(&t, NULL, idle, NULL) != 0) { perror("pthread_create"); return 1; }
  }
  printf("ready\n");
  fflush(stdout);
  for (;;) pause();
}
