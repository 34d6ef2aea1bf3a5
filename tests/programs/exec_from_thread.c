/* A non-leader thread execs `sh -c "exit 7"`: the old thread id vanishes, the process
   continues as sh under the leader's pid, and exits 7. */
#include <pthread.h>
#include <unistd.h>
static void* worker(void* arg) {
  (void)arg;
  execl("/bin/sh", "sh", "-c", "exit 7", (char*)NULL);
  return NULL;
}
int main(void) {
  pthread_t t;
  pthread_create(&t, NULL, worker, NULL);
  for (;;) pause();
}
