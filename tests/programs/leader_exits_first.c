/* The main thread calls pthread_exit; another thread runs on for a while, then the
   process exits with code 3. The outcome must come from the leader's final status. */
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>
static void* worker(void* arg) { (void)arg; usleep(300000); exit(3); }
int main(void) {
  pthread_t t;
  pthread_create(&t, NULL, worker, NULL);
  pthread_exit(NULL);
}
