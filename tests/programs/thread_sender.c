/* Sends SIGTERM to argv[1] from a thread that has renamed itself (PR_SET_NAME "worker-thread"),
   then prints "sent <pid of the sending process>" and stays alive for a while, so the sender
   can be read from /proc too. The certificate must name the process (comm "thread_sender"),
   not the thread. With "fork" as argv[2], the renamed thread forks a child that sends: the
   child's parent in the sender's ancestry must be named "thread_sender" too. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
static pid_t target;
static int use_fork;
static void* send_it(void* arg) {
  (void)arg;
  prctl(PR_SET_NAME, "worker-thread");
  if (!use_fork) {
    kill(target, SIGTERM);
    printf("sent %d\n", (int)getpid());
    fflush(stdout);
    return NULL;
  }
  pid_t child = fork();
  if (child == 0) {
    kill(target, SIGTERM);
    printf("sent %d\n", (int)getpid());
    fflush(stdout);
    sleep(3);
    _exit(0);
  }
  waitpid(child, NULL, 0);
  return NULL;
}
int main(int argc, char** argv) {
  if (argc < 2) return 2;
  target = (pid_t)atoi(argv[1]);
  use_fork = argc > 2 && strcmp(argv[2], "fork") == 0;
  pthread_t t;
  if (pthread_create(&t, NULL, send_it, NULL) != 0) return 1;
  if (!use_fork) sleep(3);  /* the process stays alive while deathwatch reads it */
  pthread_join(t, NULL);
  return 0;
}
